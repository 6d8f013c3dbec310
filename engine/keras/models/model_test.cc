// Model parsing from real Keras 3 JSON (tests/testdata/keras/models, written
// by generate.py with Keras 3.15): inputs, outputs, parameter counts and
// summary rows against what Keras reports (models/expected.json), and
// inference forward passes with Keras's weights against Keras's outputs.
#include "engine/keras/models/model.h"

#include <cmath>
#include <map>

#include "engine/keras/layers/layer_test_util.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

const json& Expected() {
  static const json* expected =
      new json(testing::LoadJson(testing::KerasTestData("models/expected.json")));
  return *expected;
}

std::string ModelPath(const std::string& name) {
  return testing::KerasTestData("models/" + name + ".json");
}

std::vector<std::string> ParsedModels() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : Expected().items()) {
    names.push_back(name);
  }
  return names;
}

Shape KerasShape(const json& dims) {
  std::vector<int64_t> out;
  for (const json& d : dims) out.push_back(d.is_null() ? kBatch : d.get<int64_t>());
  return Shape(out);
}

class ModelParseTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelParseTest, MatchesKeras) {
  const json& want = Expected()[GetParam()];
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile(ModelPath(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status();
  const Model& m = **model;

  ASSERT_EQ(m.inputs().size(), want["inputs"].size());
  // Keras lists a dict model's inputs in the dict's (sorted) key order.
  for (size_t i = 0; i < m.inputs().size(); ++i) {
    const json& in = want["inputs"][i];
    EXPECT_EQ(m.inputs()[i].name, in["name"].get<std::string>());
    EXPECT_EQ(m.inputs()[i].shape, KerasShape(in["shape"]));
    EXPECT_EQ(DTypeName(m.inputs()[i].dtype), in["dtype"].get<std::string>());
  }
  ASSERT_EQ(m.outputs().size(), want["outputs"].size());
  for (size_t i = 0; i < m.outputs().size(); ++i) {
    EXPECT_EQ(m.outputs()[i].shape, KerasShape(want["outputs"][i]["shape"]));
  }
  EXPECT_EQ(m.CountParams(), want["total_params"].get<int64_t>());
  EXPECT_EQ(m.CountParams(/*trainable_only=*/true), want["trainable_params"].get<int64_t>());

  // Every Keras layer appears in the summary with its parameter count.
  const std::string summary = m.Summary();
  for (const json& layer : want["layers"]) {
    const std::string label = layer["name"].get<std::string>();
    EXPECT_NE(summary.find(label), std::string::npos) << label << "\n" << summary;
  }
}

INSTANTIATE_TEST_SUITE_P(Keras, ModelParseTest, ::testing::ValuesIn(ParsedModels()));

// Inference with Keras's weights (set by path) against Keras's outputs.
class ModelForwardTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelForwardTest, MatchesKeras) {
  const json& forward = Expected()[GetParam()]["forward"];
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile(ModelPath(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status();
  VariableStore store;
  ASSERT_TRUE((*model)->CreateVariables(&store, /*seed=*/1).ok());
  ASSERT_EQ(static_cast<size_t>(store.size()), forward["weights"].size());
  for (const auto& [path, values] : forward["weights"].items()) {
    std::optional<int64_t> index = store.Find(path);
    ASSERT_TRUE(index.has_value()) << "no variable " << path;
    store.value(*index) = testing::MakeTensor(DType::kFloat32, store.value(*index).shape(), values);
  }

  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> inputs;
  std::vector<Tensor> feeds;
  for (size_t i = 0; i < (*model)->inputs().size(); ++i) {
    const TensorSpec& spec = (*model)->inputs()[i];
    inputs.push_back(b.Input(static_cast<int64_t>(i), spec.dtype, spec.shape));
    ASSERT_TRUE(forward["inputs"].contains(spec.name)) << spec.name;
    feeds.push_back(
        testing::MakeTensor(spec.dtype, spec.shape.Concrete(2), forward["inputs"][spec.name]));
  }
  std::vector<ValueId> outputs, losses;
  ASSERT_TRUE((*model)->Call(b, inputs, /*training=*/false, &outputs, &losses).ok());
  graph.set_outputs(outputs);
  absl::StatusOr<std::vector<Tensor>> result =
      testing::RunGraph(graph, "reference", 2, feeds, store.values());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->size(), forward["outputs"].size());
  for (size_t o = 0; o < result->size(); ++o) {
    const json& want = forward["outputs"][o];
    ASSERT_EQ((*result)[o].num_elements(), static_cast<int64_t>(want.size()));
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR((*result)[o].GetAsDouble(static_cast<int64_t>(i)), want[i].get<double>(),
                  1e-4 + 1e-4 * std::fabs(want[i].get<double>()))
          << "output " << o << " element " << i;
    }
  }
}

std::vector<std::string> ForwardModels() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : Expected().items()) {
    if (entry.contains("forward")) names.push_back(name);
  }
  return names;
}

INSTANTIATE_TEST_SUITE_P(Keras, ModelForwardTest, ::testing::ValuesIn(ForwardModels()));

TEST(ModelTest, MlpSummaryLooksLikeKeras) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile(ModelPath("mlp_sequential"));
  ASSERT_TRUE(model.ok()) << model.status();
  const std::string summary = (*model)->Summary();
  EXPECT_NE(summary.find("Model: \"fashion_mlp\""), std::string::npos) << summary;
  EXPECT_NE(
      summary.find("│ dense (Dense)                   │ (None, 256)            │       200,960 │"),
      std::string::npos)
      << summary;
  EXPECT_NE(summary.find(" Total params: 235,146 (918.54 KB)"), std::string::npos) << summary;
  EXPECT_NE(summary.find(" Non-trainable params: 0 (0.00 B)"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("InputLayer"), std::string::npos) << "Sequential hides its InputLayer";
}

TEST(ModelTest, RegularizersBecomeLosses) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile(ModelPath("mlp_sequential"));
  ASSERT_TRUE(model.ok()) << model.status();
  VariableStore store;
  ASSERT_TRUE((*model)->CreateVariables(&store, 1).ok());
  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> inputs = {b.Input(0, DType::kFloat32, Shape{kBatch, 784})};
  std::vector<ValueId> outputs, losses;
  ASSERT_TRUE((*model)->Call(b, inputs, /*training=*/true, &outputs, &losses).ok());
  ASSERT_EQ(losses.size(), 1u);  // dense_1's L2(0.01) kernel penalty
  EXPECT_EQ(graph.node(losses[0]).shape.rank(), 0);

  // The loss is 0.01 * sum(kernel^2).
  graph.set_outputs({losses[0], outputs[0]});
  const Tensor& kernel = store.value(*store.Find("dense_1/kernel"));
  double want = 0;
  for (int64_t i = 0; i < kernel.num_elements(); ++i)
    want += kernel.GetAsDouble(i) * kernel.GetAsDouble(i);
  want *= 0.01;
  Tensor x(DType::kFloat32, Shape{1, 784});
  std::vector<Tensor> feeds = {x};
  absl::StatusOr<std::vector<Tensor>> result =
      testing::RunGraph(graph, "reference", 1, feeds, store.values());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_NEAR((*result)[0].GetAsDouble(0), want, 1e-4 * want);
}

TEST(ModelTest, VariablesAreSeededAndNamedLikeKeras) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile(ModelPath("cnn_sequential"));
  ASSERT_TRUE(model.ok()) << model.status();
  VariableStore a, b, c;
  ASSERT_TRUE((*model)->CreateVariables(&a, 7).ok());
  model = Model::FromJsonFile(ModelPath("cnn_sequential"));
  ASSERT_TRUE((*model)->CreateVariables(&b, 7).ok());
  model = Model::FromJsonFile(ModelPath("cnn_sequential"));
  ASSERT_TRUE((*model)->CreateVariables(&c, 8).ok());
  ASSERT_EQ(a.size(), 6);
  EXPECT_EQ(a.info(0).path, "conv2d/kernel");
  EXPECT_EQ(a.value(0).shape(), (Shape{3, 3, 1, 32}));
  EXPECT_EQ(a.info(5).path, "dense/bias");
  for (int64_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(a.value(i).BitwiseEquals(b.value(i))) << a.info(i).path;
  }
  EXPECT_FALSE(a.value(0).BitwiseEquals(c.value(0)));
  // Glorot uniform: |w| <= sqrt(6 / (fan_in + fan_out)) with fans 9 and 288.
  const double limit = std::sqrt(6.0 / (9 + 288));
  double max_abs = 0;
  for (int64_t i = 0; i < a.value(0).num_elements(); ++i) {
    max_abs = std::max(max_abs, std::fabs(a.value(0).GetAsDouble(i)));
  }
  EXPECT_LE(max_abs, limit);
  EXPECT_GT(max_abs, 0.9 * limit);
}

// A Sequential config without an InputLayer (older Keras, hand-written)
// takes its input shape from build_config, as Keras does.
TEST(ModelTest, SequentialWithoutInputLayerUsesBuildConfig) {
  json config = testing::LoadJson(ModelPath("sequential_build_config"));
  ASSERT_EQ(config["config"]["layers"][0]["class_name"], "InputLayer");
  config["config"]["layers"].erase(0);
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(config, "seq.json");
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_EQ((*model)->inputs().size(), 1u);
  EXPECT_EQ((*model)->inputs()[0].shape, (Shape{kBatch, 3}));
  EXPECT_EQ((*model)->outputs()[0].shape, (Shape{kBatch, 2}));
  EXPECT_EQ((*model)->CountParams(), 26);
}

// Training-mode BatchNormalization updates its moving statistics through
// Assign; inference leaves them alone.
TEST(ModelTest, BatchNormUpdatesMovingStatisticsOnlyInTraining) {
  for (bool training : {false, true}) {
    absl::StatusOr<std::unique_ptr<Model>> model =
        Model::FromJsonFile(ModelPath("functional_two_in_two_out"));
    ASSERT_TRUE(model.ok()) << model.status();
    VariableStore store;
    ASSERT_TRUE((*model)->CreateVariables(&store, 3).ok());
    const int64_t mean = *store.Find("batch_normalization/moving_mean");
    const int64_t variance = *store.Find("batch_normalization/moving_variance");
    EXPECT_FALSE(store.info(mean).trainable);
    const Tensor mean_before = store.value(mean).Clone();
    const Tensor variance_before = store.value(variance).Clone();

    Graph graph;
    Builder b(&graph);
    std::vector<ValueId> inputs = {b.Input(0, DType::kFloat32, Shape{kBatch, 8, 8, 3}),
                                   b.Input(1, DType::kFloat32, Shape{kBatch, 5})};
    std::vector<ValueId> outputs, losses;
    ASSERT_TRUE((*model)->Call(b, inputs, training, &outputs, &losses).ok());
    graph.set_outputs(outputs);
    Tensor image(DType::kFloat32, Shape{4, 8, 8, 3});
    for (int64_t i = 0; i < image.num_elements(); ++i) image.SetFromDouble(i, (i % 7) * 0.5);
    std::vector<Tensor> feeds = {image, Tensor(DType::kFloat32, Shape{4, 5})};
    ASSERT_TRUE(testing::RunGraph(graph, "reference", 4, feeds, store.values()).ok());
    EXPECT_EQ(store.value(mean).BitwiseEquals(mean_before), !training);
    EXPECT_EQ(store.value(variance).BitwiseEquals(variance_before), !training);
  }
}

// layer(x, training=True) in the definition keeps Dropout active even when
// the model runs in inference mode, as in Keras.
TEST(ModelTest, TrainingKeywordFixesTheLayerMode) {
  json config = testing::LoadJson(ModelPath("embedding_functional"));
  json dropout = {{"module", "keras.layers"},
                  {"class_name", "Dropout"},
                  {"config", {{"name", "mc_dropout"}, {"rate", 0.5}}},
                  {"name", "mc_dropout"},
                  {"inbound_nodes",
                   {{{"args",
                      {{{"class_name", "__keras_tensor__"},
                        {"config",
                         {{"shape", {nullptr, 80}},
                          {"dtype", "float32"},
                          {"keras_history", {"flatten", 0, 0}}}}}}},
                     {"kwargs", {{"training", true}}}}}}};
  for (json& layer : config["config"]["layers"]) {
    if (layer["name"] == "dense") {
      layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "mc_dropout";
    }
  }
  config["config"]["layers"].push_back(dropout);
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(config, "mc.json");
  ASSERT_TRUE(model.ok()) << model.status();
  VariableStore store;
  ASSERT_TRUE((*model)->CreateVariables(&store, 1).ok());
  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> inputs = {b.Input(0, DType::kInt32, Shape{kBatch, 10})};
  std::vector<ValueId> outputs, losses;
  ASSERT_TRUE((*model)->Call(b, inputs, /*training=*/false, &outputs, &losses).ok());
  bool has_random = false;
  for (const Node& n : graph.nodes()) has_random |= n.op == Op::kRandomUniform;
  EXPECT_TRUE(has_random);
}

TEST(ModelTest, ActivityRegularizerPenalizesOutputs) {
  json config = testing::LoadJson(ModelPath("mlp_sequential"));
  config["config"]["layers"][1]["config"]["activity_regularizer"] = {{"class_name", "L1"},
                                                                     {"config", {{"l1", 0.5}}}};
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(config, "mlp.json");
  ASSERT_TRUE(model.ok()) << model.status();
  VariableStore store;
  ASSERT_TRUE((*model)->CreateVariables(&store, 1).ok());
  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> inputs = {b.Input(0, DType::kFloat32, Shape{kBatch, 784})};
  std::vector<ValueId> outputs, losses;
  ASSERT_TRUE((*model)->Call(b, inputs, false, &outputs, &losses).ok());
  EXPECT_EQ(losses.size(), 2u);  // dense's activity L1 and dense_1's kernel L2
}

TEST(ModelTest, CallBeforeCreateVariablesFails) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile(ModelPath("mlp_sequential"));
  ASSERT_TRUE(model.ok());
  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> inputs = {b.Input(0, DType::kFloat32, Shape{kBatch, 784})};
  std::vector<ValueId> outputs, losses;
  absl::Status s = (*model)->Call(b, inputs, false, &outputs, &losses);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fornax
