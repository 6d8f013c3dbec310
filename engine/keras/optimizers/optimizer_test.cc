// Every optimizer's update rule over 3 steps against real Keras 3.15:
// keras.optimizers.deserialize(config).apply(grads, [w, b]) three times with
// the same gradients, values embedded below. Also Keras's variable names and
// order, and the learning-rate plumbing.
#include "engine/keras/optimizers/optimizer.h"

#include "engine/keras/losses/graph_test_util.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;
using testing::Floats;

const std::vector<std::vector<float>> kGrads = {
    {0.1f, -0.2f, 0.3f, 0.4f, 0.0f, -0.6f},
    {-0.5f, 0.25f, 1.0f, 0.2f, -0.1f, 0.05f},
    {2.0f, -3.0f, 0.5f, 0.0f, 0.7f, -0.3f},
};

struct OptimizerCase {
  const char* name;
  const char* config;
  std::vector<float> w;  // keras 3.15, after 3 steps
  std::vector<float> b;
};

// Trains w (2x3) and b (2) for 3 steps with gradients fed as inputs (b's
// gradient is half of w's first row, as in the Keras run).
void RunThreeSteps(const json& config, const std::string& backend, VariableStore* store,
                   Optimizer** out_optimizer, std::unique_ptr<Optimizer>* holder) {
  absl::StatusOr<std::unique_ptr<Optimizer>> optimizer = Optimizer::FromConfig(config);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  const int64_t w =
      store->Add({"dense/kernel"}, Floats({2, 3}, {0.5f, -1.0f, 2.0f, 0.0f, 1.5f, -0.25f}));
  const int64_t b = store->Add({"dense/bias"}, Floats({2}, {1.0f, -1.0f}));
  (*optimizer)->Build(store, {w, b});
  Graph graph;
  Builder builder(&graph);
  ValueId gw = builder.Input(0, DType::kFloat32, Shape{2, 3});
  ValueId gb =
      builder.Mul(builder.Reshape(builder.Slice(builder.Slice(gw, 0, 0, 1), 1, 0, 2), Shape{2}),
                  builder.Scalar(0.5));
  std::vector<ValueId> grads = {gw, gb};
  ASSERT_TRUE((*optimizer)->Apply(builder, grads).ok());
  ASSERT_TRUE(builder.ok()) << builder.status();
  CompileOptions options;
  options.backend = backend;
  absl::StatusOr<std::unique_ptr<Executable>> plan = Compile(graph, options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (const std::vector<float>& g : kGrads) {
    (*optimizer)->PrepareStep(store);
    std::vector<Tensor> inputs = {Floats({2, 3}, g)};
    std::vector<Tensor> outputs;
    ASSERT_TRUE((*plan)->Run(inputs, store->values(), RunOptions{}, &outputs).ok());
  }
  *out_optimizer = optimizer->get();
  *holder = *std::move(optimizer);
}

class OptimizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerTest, ThreeStepsMatchKeras) {
  const std::vector<OptimizerCase> cases = {
      {"sgd",
       R"({"class_name": "SGD", "config": {"learning_rate": 0.1}})",
       {0.3400000333786011, -0.7049999833106995, 1.8200000524520874, -0.06000000238418579,
        1.4399999380111694, -0.16499999165534973},
       {0.9199999570846558, -0.8525000810623169}},
      {"sgd_momentum",
       R"({"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}})",
       {0.367900013923645, -0.6933000087738037, 1.6787000894546509, -0.14640000462532043,
        1.4490000009536743, -0.06689999997615814},
       {0.9339499473571777, -0.8466500043869019}},
      {"sgd_nesterov",
       R"({"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9, "nesterov": true}})",
       {0.22110998630523682, -0.4289700388908386, 1.530829906463623, -0.19176000356674194,
        1.3941000699996948, -0.00020998716354370117},
       {0.8605549335479736, -0.7144849896430969}},
      {"adam",
       R"({"class_name": "Adam", "config": {"learning_rate": 0.01}})",
       {0.49093565344810486, -0.9854088425636292, 1.9718769788742065, -0.02652718871831894,
        1.5019302368164062, -0.22689858078956604},
       {0.9909359812736511, -0.9854089617729187}},
      {"adam_amsgrad",
       R"({"class_name": "Adam", "config": {"learning_rate": 0.01, "amsgrad": true, "beta_1": 0.8}})",
       {0.4907500445842743, -0.9853230714797974, 1.9715219736099243, -0.02573893591761589,
        1.5016334056854248, -0.2275897115468979},
       {0.9907503724098206, -0.9853231906890869}},
      {"adamw",
       R"({"class_name": "AdamW", "config": {"learning_rate": 0.01, "weight_decay": 0.1}})",
       {0.48945116996765137, -0.9824302196502686, 1.9659119844436646, -0.02649787813425064,
        1.4974273443222046, -0.22617538273334503},
       {0.9879530072212219, -0.9824303388595581}},
      {"rmsprop",
       R"({"class_name": "RMSprop", "config": {"learning_rate": 0.01}})",
       {0.46870744228363037, -0.9620989561080933, 1.9236644506454468, -0.04636683315038681,
        1.5002849102020264, -0.2058320939540863},
       {0.9687120318412781, -0.9620997309684753}},
      {"rmsprop_centered_momentum",
       R"({"class_name": "RMSprop", "config": {"learning_rate": 0.01, "momentum": 0.5, "centered": true}})",
       {0.458109050989151, -0.9464691281318665, 1.8760087490081787, -0.0826151967048645,
        1.5174229145050049, -0.1794380396604538},
       {0.9581184983253479, -0.9464710354804993}},
      {"adagrad",
       R"({"class_name": "Adagrad", "config": {"learning_rate": 0.1}})",
       {0.45739954710006714, -0.9032096862792969, 1.7978389263153076, -0.11496127396821976,
        1.4397815465927124, -0.12852661311626434},
       {0.9532801508903503, -0.9077960252761841}},
      {"sgd_clipnorm",
       R"({"class_name": "SGD", "config": {"learning_rate": 0.1, "clipnorm": 0.5}})",
       {0.48835358023643494, -0.9580550789833069, 1.9320178031921387, -0.03317750617861748,
        1.4948681592941284, -0.21117888391017914},
       {0.992264986038208, -0.9608975648880005}},
      {"sgd_clipvalue",
       R"({"class_name": "SGD", "config": {"learning_rate": 0.1, "clipvalue": 0.25}})",
       {0.4899999797344208, -0.9800000190734863, 1.9250000715255737, -0.04500000178813934,
        1.4850000143051147, -0.20499998331069946},
       {0.9950000047683716, -0.9775000810623169}},
      {"sgd_global_clipnorm",
       R"({"class_name": "SGD", "config": {"learning_rate": 0.1, "global_clipnorm": 1.0}})",
       {0.4832281172275543, -0.9282206296920776, 1.8746587038040161, -0.0566486157476902,
        1.4913865327835083, -0.18690313398838043},
       {0.991614043712616, -0.9641103744506836}},
      {"adam_expdecay",
       R"({"class_name": "Adam", "config": {"learning_rate": {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}}}})",
       {0.41707226634025574, -0.8804154396057129, 1.7906385660171509, -0.20194096863269806,
        1.5250619649887085, -0.07194483280181885},
       {0.9170752763748169, -0.8804169297218323}},
  };
  for (const OptimizerCase& c : cases) {
    SCOPED_TRACE(c.name);
    VariableStore store;
    Optimizer* optimizer = nullptr;
    std::unique_ptr<Optimizer> holder;
    RunThreeSteps(json::parse(c.config), GetParam(), &store, &optimizer, &holder);
    ASSERT_NE(optimizer, nullptr);
    EXPECT_EQ(optimizer->iterations(store), 3);
    const Tensor& w = store.value(0);
    const Tensor& b = store.value(1);
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(w.data<float>()[i], c.w[i], 2e-6) << "w[" << i << "]";
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(b.data<float>()[i], c.b[i], 2e-6) << "b[" << i << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, OptimizerTest, ::testing::Values("reference", "cpu"));

std::vector<std::string> Paths(const VariableStore& store, const std::vector<int64_t>& indices) {
  std::vector<std::string> paths;
  for (int64_t i : indices) paths.push_back(store.info(i).path);
  return paths;
}

TEST(OptimizerVariablesTest, KerasNamesAndOrder) {
  VariableStore store;
  const int64_t k = store.Add({"dense/kernel"}, Tensor(DType::kFloat32, Shape{2, 2}));
  const int64_t b = store.Add({"dense/bias"}, Tensor(DType::kFloat32, Shape{2}));
  auto adam = Optimizer::FromConfig(json{{"class_name", "Adam"}, {"config", {{"amsgrad", true}}}});
  ASSERT_TRUE(adam.ok());
  (*adam)->Build(&store, {k, b});
  // keras 3.15: [v.path for v in Adam(amsgrad=True).variables] after build.
  EXPECT_EQ(
      Paths(store, (*adam)->keras_variables()),
      (std::vector<std::string>{"adam/iteration", "adam/learning_rate",
                                "adam/dense_kernel_momentum", "adam/dense_kernel_velocity",
                                "adam/dense_bias_momentum", "adam/dense_bias_velocity",
                                "adam/dense_kernel_velocity_hat", "adam/dense_bias_velocity_hat"}));
  VariableStore store2;
  store2.Add({"dense/kernel"}, Tensor(DType::kFloat32, Shape{2, 2}));
  store2.Add({"dense/bias"}, Tensor(DType::kFloat32, Shape{2}));
  auto rms = Optimizer::FromConfig(
      json{{"class_name", "RMSprop"}, {"config", {{"momentum", 0.5}, {"centered", true}}}});
  ASSERT_TRUE(rms.ok());
  (*rms)->Build(&store2, {0, 1});
  EXPECT_EQ(Paths(store2, (*rms)->keras_variables()),
            (std::vector<std::string>{
                "rmsprop/iteration", "rmsprop/learning_rate", "rmsprop/dense_kernel_velocity",
                "rmsprop/dense_bias_velocity", "rmsprop/dense_kernel_momentum",
                "rmsprop/dense_bias_momentum", "rmsprop/dense_kernel_average_gradient",
                "rmsprop/dense_bias_average_gradient"}));
}

TEST(OptimizerVariablesTest, LearningRateIsSettableUnlessScheduled) {
  VariableStore store;
  store.Add({"w"}, Tensor(DType::kFloat32, Shape{1}));
  auto sgd = Optimizer::FromConfig("sgd");
  ASSERT_TRUE(sgd.ok());
  (*sgd)->Build(&store, {0});
  EXPECT_NEAR((*sgd)->learning_rate(store), 0.01, 1e-9);
  ASSERT_TRUE((*sgd)->set_learning_rate(&store, 0.5).ok());
  EXPECT_EQ((*sgd)->learning_rate(store), 0.5);
  auto scheduled = Optimizer::FromConfig(json::parse(R"({"class_name": "SGD", "config":
      {"learning_rate": {"class_name": "ExponentialDecay", "config":
      {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}}}})"));
  ASSERT_TRUE(scheduled.ok()) << scheduled.status();
  VariableStore store2;
  store2.Add({"w"}, Tensor(DType::kFloat32, Shape{1}));
  (*scheduled)->Build(&store2, {0});
  EXPECT_FALSE((*scheduled)->set_learning_rate(&store2, 0.5).ok());
  EXPECT_EQ(Paths(store2, (*scheduled)->keras_variables()),
            (std::vector<std::string>{"sgd/iteration"}));
}

TEST(OptimizerFromConfigTest, RejectsBadConfigs) {
  EXPECT_FALSE(Optimizer::FromConfig("adamax_of_doom").ok());
  EXPECT_FALSE(Optimizer::FromConfig(
                   json{{"class_name", "SGD"}, {"config", {{"clipnorm", 1.0}, {"clipvalue", 1.0}}}})
                   .ok());
  EXPECT_FALSE(
      Optimizer::FromConfig(json{{"class_name", "SGD"}, {"config", {{"momentum", 2.0}}}}).ok());
  absl::StatusOr<std::unique_ptr<Optimizer>> typo =
      Optimizer::FromConfig(json{{"class_name", "Adam"}, {"config", {{"beta1", 0.9}}}});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("beta1"), std::string::npos);
  absl::StatusOr<std::unique_ptr<Optimizer>> bad =
      Optimizer::FromConfig(json{{"class_name", "Adam"}, {"config", {{"beta_1", "high"}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("beta_1"), std::string::npos);
}

}  // namespace
}  // namespace fornax
