// Trainer end to end: Keras's History keys for single- and multi-output
// models, no retrace on a short last batch, bit-identical weights for the
// same seed and any steps_per_execution (a model with Dropout), callbacks in
// the loop, and convergence on a 10k-sample subset of real Fashion-MNIST.
// Model configs are what Keras 3.15's model.to_json() writes.
#include "engine/keras/models/trainer.h"

#include <cmath>
#include <filesystem>

#include "engine/data/idx.h"
#include "engine/data/test_files.h"
#include "engine/keras/callbacks/early_stopping.h"
#include "engine/keras/callbacks/terminate_on_nan.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

// Dense(8, relu) -> Dropout(0.5) -> Dense(3, softmax) on 4 features.
constexpr const char* kSmallModel =
    R"json({"module": "keras", "class_name": "Sequential", "config": {"name": "small", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "layers": [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer", "optional": false}, "registered_name": null}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "hidden", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "units": 8, "activation": "relu", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config": {"input_shape": [null, 4]}}, {"module": "keras.layers", "class_name": "Dropout", "config": {"name": "drop", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "rate": 0.5, "seed": null, "noise_shape": null}, "registered_name": null}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "probs", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "units": 3, "activation": "softmax", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config": {"input_shape": [null, 8]}}], "build_input_shape": [null, 4]}, "registered_name": null, "build_config": {"input_shape": [null, 4]}, "compile_config": {}})json";
// Inputs a (4) and b (2) -> Concatenate -> Dense 5 "hid" -> outputs
// "cls" (Dense 3 softmax) and "reg" (Dense 1).
constexpr const char* kTwoModel =
    R"json({"module": "keras.src.models.functional", "class_name": "Functional", "config": {"name": "two", "trainable": true, "layers": [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4], "dtype": "float32", "sparse": false, "ragged": false, "name": "a", "optional": false}, "registered_name": null, "name": "a", "inbound_nodes": []}, {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 2], "dtype": "float32", "sparse": false, "ragged": false, "name": "b", "optional": false}, "registered_name": null, "name": "b", "inbound_nodes": []}, {"module": "keras.layers", "class_name": "Concatenate", "config": {"name": "cat", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "axis": -1}, "registered_name": null, "build_config": {"input_shape": [[null, 4], [null, 2]]}, "name": "cat", "inbound_nodes": [{"args": [[{"class_name": "__keras_tensor__", "config": {"shape": [null, 4], "dtype": "float32", "keras_history": ["a", 0, 0]}}, {"class_name": "__keras_tensor__", "config": {"shape": [null, 2], "dtype": "float32", "keras_history": ["b", 0, 0]}}]], "kwargs": {}}]}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "hid", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "units": 5, "activation": "linear", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config": {"input_shape": [null, 6]}, "name": "hid", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 6], "dtype": "float32", "keras_history": ["cat", 0, 0]}}], "kwargs": {}}]}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "cls", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "units": 3, "activation": "softmax", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config": {"input_shape": [null, 5]}, "name": "cls", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 5], "dtype": "float32", "keras_history": ["hid", 0, 0]}}], "kwargs": {}}]}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "reg", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "units": 1, "activation": "linear", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config": {"input_shape": [null, 5]}, "name": "reg", "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 5], "dtype": "float32", "keras_history": ["hid", 0, 0]}}], "kwargs": {}}]}], "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["cls", 0, 0], ["reg", 0, 0]]}, "registered_name": "Functional", "build_config": {"input_shape": null}, "compile_config": {}})json";

std::unique_ptr<Model> Parse(const char* text) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(json::parse(text), "test");
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

// Deterministic synthetic data: features in [-1, 1), class = argmax of a
// fixed projection, so it is learnable.
Dataset Synthetic(int64_t n, uint32_t salt = 0) {
  Tensor x(DType::kFloat32, Shape{n, 4});
  Tensor y(DType::kInt32, Shape{n});
  uint32_t state = 12345u + salt;
  for (int64_t i = 0; i < n; ++i) {
    float f[4];
    for (float& v : f) {
      state = state * 1664525u + 1013904223u;
      v = static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
    }
    for (int k = 0; k < 4; ++k) x.data<float>()[i * 4 + k] = f[k];
    const float s[3] = {f[0] + f[1], f[2] - f[0], f[3] - f[1]};
    y.data<int32_t>()[i] = s[0] > s[1] ? (s[0] > s[2] ? 0 : 2) : (s[1] > s[2] ? 1 : 2);
  }
  return Dataset{{x}, {y}};
}

std::vector<std::string> Keys(const History& history) {
  std::vector<std::string> keys;
  for (const auto& [name, values] : history) keys.push_back(name);
  return keys;
}

CompileConfig SmallCompile(int64_t steps_per_execution = 1) {
  CompileConfig config;
  config.optimizer = json{{"class_name", "Adam"}, {"config", {{"learning_rate", 0.01}}}};
  config.loss = "sparse_categorical_crossentropy";
  config.metrics = json::array({"accuracy"});
  config.steps_per_execution = steps_per_execution;
  return config;
}

TEST(TrainerTest, HistoryKeysMatchKerasSingleOutput) {
  auto trainer = Trainer::Create(Parse(kSmallModel), SmallCompile(), 1);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  FitConfig fit;
  fit.epochs = 2;
  fit.batch_size = 16;
  fit.validation_split = 0.25;
  absl::StatusOr<History> history = (*trainer)->Fit(Synthetic(64), nullptr, fit, {});
  ASSERT_TRUE(history.ok()) << history.status();
  // keras 3.15: sorted(model.fit(...).history) for the same compile/fit.
  EXPECT_EQ(Keys(*history),
            (std::vector<std::string>{"accuracy", "loss", "val_accuracy", "val_loss"}));
  EXPECT_EQ(history->at("loss").size(), 2u);
  EXPECT_EQ((*trainer)->iterations(), 2 * 3);  // 48 training samples, batch 16
}

TEST(TrainerTest, HistoryKeysMatchKerasMultiOutput) {
  CompileConfig config;
  config.optimizer =
      json{{"class_name", "SGD"}, {"config", {{"learning_rate", 0.01}, {"momentum", 0.9}}}};
  config.loss = json{{"cls", "sparse_categorical_crossentropy"}, {"reg", "mse"}};
  config.loss_weights = json{{"cls", 1.0}, {"reg", 0.5}};
  config.metrics = json{{"cls", json::array({"accuracy"})}, {"reg", json::array({"mae"})}};
  auto trainer = Trainer::Create(Parse(kTwoModel), config, 1);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  Dataset single = Synthetic(64);
  Tensor b = single.x[0].SliceRows(0, 64).Clone().Reshaped(Shape{128, 2}).SliceRows(0, 64);
  Tensor reg(DType::kFloat32, Shape{64, 1});
  for (int64_t i = 0; i < 64; ++i) reg.data<float>()[i] = single.x[0].data<float>()[i * 4];
  Dataset data{{single.x[0], b.Clone()}, {single.y[0], reg}};
  FitConfig fit;
  fit.batch_size = 16;
  fit.validation_split = 0.25;
  absl::StatusOr<History> history = (*trainer)->Fit(data, nullptr, fit, {});
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(Keys(*history),
            (std::vector<std::string>{"cls_accuracy", "cls_loss", "loss", "reg_loss", "reg_mae",
                                      "val_cls_accuracy", "val_cls_loss", "val_loss",
                                      "val_reg_loss", "val_reg_mae"}));
  // Keras's optimizer variables: iteration, learning_rate, then one momentum
  // per trainable weight named after its path.
  const VariableStore& store = (*trainer)->variables();
  ASSERT_TRUE(store.Find("sgd/iteration").has_value());
  ASSERT_TRUE(store.Find("sgd/learning_rate").has_value());
  EXPECT_TRUE(store.Find("sgd/hid_kernel_momentum").has_value());
  EXPECT_TRUE(store.Find("sgd/reg_bias_momentum").has_value());
}

// The multi-output fit of gen_two.py in Keras 3.15: every weight w of size n
// set to ((i % 7) - 3) * 0.1, SGD(0.1), 12 samples in batches of 5.
TEST(TrainerTest, MultiOutputLossesAndWeightsMatchKeras) {
  CompileConfig config;
  config.optimizer = json{{"class_name", "SGD"}, {"config", {{"learning_rate", 0.1}}}};
  config.loss = json{{"cls", "sparse_categorical_crossentropy"}, {"reg", "mse"}};
  config.loss_weights = json{{"cls", 1.0}, {"reg", 0.5}};
  config.metrics = json{{"cls", json::array({"accuracy"})}, {"reg", json::array({"mae"})}};
  auto trainer = Trainer::Create(Parse(kTwoModel), config, 1);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  VariableStore& store = (*trainer)->variables();
  for (const char* path :
       {"hid/kernel", "hid/bias", "cls/kernel", "cls/bias", "reg/kernel", "reg/bias"}) {
    std::optional<int64_t> index = store.Find(path);
    ASSERT_TRUE(index.has_value()) << path;
    Tensor& w = store.value(*index);
    for (int64_t i = 0; i < w.num_elements(); ++i) w.data<float>()[i] = ((i % 7) - 3) * 0.1f;
  }
  const int64_t n = 12;
  Tensor a(DType::kFloat32, Shape{n, 4}), b(DType::kFloat32, Shape{n, 2});
  Tensor cls(DType::kInt32, Shape{n}), reg(DType::kFloat32, Shape{n, 1});
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 4; ++j) a.data<float>()[i * 4 + j] = ((i * 3 + j) % 5 - 2) * 0.3f;
    for (int64_t j = 0; j < 2; ++j) b.data<float>()[i * 2 + j] = ((i + j) % 3 - 1) * 0.5f;
    cls.data<int32_t>()[i] = static_cast<int32_t>(i % 3);
    reg.data<float>()[i] = a.data<float>()[i * 4] - b.data<float>()[i * 2 + 1];
  }
  FitConfig fit;
  fit.epochs = 2;
  fit.batch_size = 5;
  fit.shuffle = false;
  absl::StatusOr<History> history = (*trainer)->Fit(Dataset{{a, b}, {cls, reg}}, nullptr, fit, {});
  ASSERT_TRUE(history.ok()) << history.status();
  const std::map<std::string, std::vector<double>> keras = {
      {"cls_accuracy", {0.25, 0.1666666716337204}},
      {"cls_loss", {1.1335185766220093, 1.1127177476882935}},
      {"loss", {1.2896454334259033, 1.2518529891967773}},
      {"reg_loss", {0.3122537434101105, 0.278270423412323}},
      {"reg_mae", {0.4596259593963623, 0.4380009174346924}}};
  ASSERT_EQ(history->size(), keras.size());
  for (const auto& [name, values] : keras) {
    for (size_t e = 0; e < values.size(); ++e) {
      EXPECT_NEAR(history->at(name)[e], values[e], 3e-6) << name << " epoch " << e;
    }
  }
}

TEST(TrainerTest, ShortLastBatchDoesNotRetrace) {
  auto trainer = Trainer::Create(Parse(kSmallModel), SmallCompile(), 1);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  FitConfig fit;
  fit.epochs = 2;
  fit.batch_size = 32;
  ASSERT_TRUE((*trainer)->Fit(Synthetic(100), nullptr, fit, {}).ok());  // 32, 32, 32, 4
  EXPECT_EQ((*trainer)->retrace_count(), 1);
  EXPECT_EQ((*trainer)->iterations(), 8);
  absl::StatusOr<Logs> logs = (*trainer)->Evaluate(Synthetic(50, 7), 32);
  ASSERT_TRUE(logs.ok()) << logs.status();
  EXPECT_EQ(logs->count("accuracy"), 1u);
  EXPECT_EQ((*trainer)->retrace_count(), 2);  // the eval step, once
  absl::StatusOr<std::vector<Tensor>> pred = (*trainer)->Predict({Synthetic(50, 7).x[0]}, 32);
  ASSERT_TRUE(pred.ok()) << pred.status();
  EXPECT_EQ((*pred)[0].shape(), (Shape{50, 3}));
}

// Final weights after 300 steps of a Dropout model, as bytes.
std::vector<Tensor> TrainWeights(int64_t steps_per_execution, uint64_t seed) {
  auto trainer = Trainer::Create(Parse(kSmallModel), SmallCompile(steps_per_execution), seed);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  FitConfig fit;
  fit.epochs = 3;
  fit.batch_size = 8;
  EXPECT_TRUE((*trainer)->Fit(Synthetic(800), nullptr, fit, {}).ok());
  EXPECT_EQ((*trainer)->iterations(), 300);
  std::vector<Tensor> weights;
  VariableStore& store = (*trainer)->variables();
  for (int64_t i = 0; i < store.size(); ++i) {
    if (store.info(i).kind != VariableKind::kMetric) weights.push_back(store.value(i).Clone());
  }
  return weights;
}

TEST(TrainerTest, BitIdenticalForSameSeedAndAnyStepsPerExecution) {
  const std::vector<Tensor> reference = TrainWeights(1, 42);
  for (int64_t spe : {1, 33, 1000}) {
    SCOPED_TRACE(spe);
    const std::vector<Tensor> other = TrainWeights(spe, 42);
    ASSERT_EQ(other.size(), reference.size());
    for (size_t i = 0; i < reference.size(); ++i) EXPECT_TRUE(other[i].BitwiseEquals(reference[i]));
  }
  const std::vector<Tensor> different_seed = TrainWeights(1, 43);
  EXPECT_FALSE(different_seed[0].BitwiseEquals(reference[0]));
}

TEST(TrainerTest, ScheduledRateIsExactPerStepForAnyStepsPerExecution) {
  const json optimizer = json::parse(R"({"class_name": "SGD", "config": {"learning_rate":
      {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
       "decay_steps": 7, "decay_rate": 0.5, "staircase": true}}}})");
  std::vector<std::vector<Tensor>> runs;
  for (int64_t spe : {1, 5}) {
    CompileConfig config = SmallCompile(spe);
    config.optimizer = optimizer;
    auto trainer = Trainer::Create(Parse(kSmallModel), config, 3);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    FitConfig fit;
    fit.batch_size = 10;
    ASSERT_TRUE((*trainer)->Fit(Synthetic(200), nullptr, fit, {}).ok());  // 20 steps
    // keras: ExponentialDecay(0.1, 7, 0.5, staircase=True)(20) = 0.1 * 0.5^2
    EXPECT_NEAR((*trainer)->learning_rate(), 0.025, 1e-9);
    EXPECT_FALSE((*trainer)->set_learning_rate(0.5).ok());
    runs.emplace_back();
    VariableStore& store = (*trainer)->variables();
    for (int64_t i = 0; i < store.size(); ++i) {
      if (store.info(i).kind == VariableKind::kWeight)
        runs.back().push_back(store.value(i).Clone());
    }
  }
  for (size_t i = 0; i < runs[0].size(); ++i) EXPECT_TRUE(runs[0][i].BitwiseEquals(runs[1][i]));
}

TEST(TrainerTest, RejectsEmptyTrainingData) {
  auto trainer = Trainer::Create(Parse(kSmallModel), SmallCompile(), 1);
  ASSERT_TRUE(trainer.ok());
  absl::StatusOr<History> h = (*trainer)->Fit(Synthetic(0), nullptr, FitConfig{}, {});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("no samples"), std::string::npos);
}

// Counts batch hooks: one per execution, with the last step's index.
class BatchRecorder : public Callback {
 public:
  absl::Status OnTrainBatchEnd(TrainingControl&, int64_t batch, const Logs&) override {
    batches.push_back(batch);
    return absl::OkStatus();
  }
  std::vector<int64_t> batches;
};

TEST(TrainerTest, BatchHooksOncePerExecution) {
  auto trainer = Trainer::Create(Parse(kSmallModel), SmallCompile(4), 1);
  ASSERT_TRUE(trainer.ok());
  FitConfig fit;
  fit.batch_size = 10;
  BatchRecorder recorder;
  ASSERT_TRUE((*trainer)->Fit(Synthetic(95), nullptr, fit, {&recorder}).ok());  // 10 steps
  EXPECT_EQ(recorder.batches, (std::vector<int64_t>{3, 7, 9}));
}

// A mid-epoch resume: the first 6 of 10 steps are skipped, the epoch's
// metrics start from the given sums (a huge loss total shows in the log),
// and a metric that is not the model's or has another shape is an error.
TEST(TrainerTest, InitialProgressSkipsStepsAndContinuesMetrics) {
  auto trainer = Trainer::Create(Parse(kSmallModel), SmallCompile(), 1);
  ASSERT_TRUE(trainer.ok());
  FitConfig fit;
  fit.batch_size = 10;
  fit.epochs = 2;
  fit.initial_epoch = 1;
  fit.initial_progress.step = 6;
  fit.initial_progress.steps_per_epoch = 10;
  fit.initial_progress.metrics = {{"metrics/loss/total", Tensor::Scalar(1e6f)},
                                  {"metrics/loss/count", Tensor::Scalar(1)}};
  BatchRecorder recorder;
  absl::StatusOr<History> history =
      (*trainer)->Fit(Synthetic(95), nullptr, fit, {&recorder});  // 10 steps
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(recorder.batches, (std::vector<int64_t>{6, 7, 8, 9}));
  EXPECT_EQ((*trainer)->iterations(), 4);
  EXPECT_GT(history->at("loss")[0], 1e3);

  fit.initial_progress.metrics = {{"metrics/nope/total", Tensor::Scalar(1)}};
  history = (*trainer)->Fit(Synthetic(95), nullptr, fit, {});
  EXPECT_EQ(history.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(history.status().message().find("'metrics/nope/total' is not a metric variable"),
            std::string::npos)
      << history.status();
  fit.initial_progress.metrics = {
      {"metrics/loss/total", Tensor::FromFloats(Shape{2}, std::vector<float>{1, 2})}};
  history = (*trainer)->Fit(Synthetic(95), nullptr, fit, {});
  EXPECT_EQ(history.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(history.status().message().find("'metrics/loss/total' is float32(2,)"),
            std::string::npos)
      << history.status();
}

TEST(TrainerTest, TerminateOnNaNStopsImmediately) {
  CompileConfig config = SmallCompile();
  config.optimizer = json{{"class_name", "SGD"}, {"config", {{"learning_rate", 1e30}}}};
  auto trainer = Trainer::Create(Parse(kSmallModel), config, 1);
  ASSERT_TRUE(trainer.ok());
  FitConfig fit;
  fit.epochs = 5;
  fit.batch_size = 8;
  TerminateOnNaN terminate;
  absl::StatusOr<History> history = (*trainer)->Fit(Synthetic(800), nullptr, fit, {&terminate});
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->at("loss").size(), 1u);
  EXPECT_LT((*trainer)->iterations(), 100);
}

TEST(TrainerTest, RejectsWrongLabelCountAndShapes) {
  auto trainer = Trainer::Create(Parse(kSmallModel), SmallCompile(), 1);
  ASSERT_TRUE(trainer.ok());
  Dataset data = Synthetic(20);
  data.y.push_back(data.y[0]);
  absl::StatusOr<History> h = (*trainer)->Fit(data, nullptr, FitConfig{}, {});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("label arrays"), std::string::npos) << h.status();
  Dataset wide{{Tensor(DType::kFloat32, Shape{20, 5})}, {Synthetic(20).y[0]}};
  h = (*trainer)->Fit(wide, nullptr, FitConfig{}, {});
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("(None, 4)"), std::string::npos) << h.status();
  auto bad = Trainer::Create(
      Parse(kSmallModel),
      [] {
        CompileConfig c = SmallCompile();
        c.metrics = json::array({"accuracy_of_doom"});
        return c;
      }(),
      1);
  EXPECT_FALSE(bad.ok());
}

// 10k Fashion-MNIST samples, the examples/fashion_mlp model, 2 epochs.
TEST(TrainerTest, ConvergesOnFashionMnistSubset) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string model_path = testing::SourceDir() + "/examples/fashion_mlp/model.json";
  if (!std::filesystem::exists(dir + "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed";
  }
  absl::StatusOr<Tensor> images = ReadIdx(dir + "train-images-idx3-ubyte.gz");
  absl::StatusOr<Tensor> labels = ReadIdx(dir + "train-labels-idx1-ubyte.gz");
  absl::StatusOr<Tensor> test_images = ReadIdx(dir + "t10k-images-idx3-ubyte.gz");
  absl::StatusOr<Tensor> test_labels = ReadIdx(dir + "t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(images.ok() && labels.ok() && test_images.ok() && test_labels.ok());
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile(model_path);
  ASSERT_TRUE(model.ok()) << model.status();
  CompileConfig config;
  config.optimizer = json{{"class_name", "Adam"}, {"config", {{"learning_rate", 0.001}}}};
  config.loss = "sparse_categorical_crossentropy";
  config.metrics = json::array({"accuracy"});
  auto trainer = Trainer::Create(*std::move(model), config, 1);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  // The model takes flat pixels in [0, 1], as the example's job file feeds.
  auto shaped = [](const Tensor& t, int64_t n) {
    Tensor pixels = t.SliceRows(0, n).CastTo(DType::kFloat32).Reshaped(Shape{n, 784});
    float* p = pixels.data<float>();
    for (int64_t i = 0; i < pixels.num_elements(); ++i) p[i] *= 1.0f / 255.0f;
    return pixels;
  };
  Dataset train{{shaped(*images, 10000)}, {labels->SliceRows(0, 10000)}};
  Dataset test{{shaped(*test_images, 2000)}, {test_labels->SliceRows(0, 2000)}};
  FitConfig fit;
  fit.epochs = 2;
  fit.batch_size = 128;
  absl::StatusOr<History> history = (*trainer)->Fit(train, nullptr, fit, {});
  ASSERT_TRUE(history.ok()) << history.status();
  absl::StatusOr<Logs> logs = (*trainer)->Evaluate(test, 128);
  ASSERT_TRUE(logs.ok()) << logs.status();
  EXPECT_GT(logs->at("accuracy"), 0.78);
  EXPECT_LT(history->at("loss")[1], history->at("loss")[0]);
}

}  // namespace
}  // namespace fornax
