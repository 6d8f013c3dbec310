// Callbacks in real fit loops: EarlyStopping stops and restores the best
// weights, ReduceLROnPlateau reduces the rate and logs it, CSVLogger writes
// Keras's exact format, CallbackFromConfig parses Keras's serialized form.
// Also one end-to-end check against Keras 3.15: the same linear model, start
// weights, data and SGD+momentum give Keras's History and final weights.
#include <cstdio>
#include <filesystem>

#include "engine/data/test_files.h"
#include "engine/keras/callbacks/callback_from_config.h"
#include "engine/keras/callbacks/callback_state.h"
#include "engine/keras/callbacks/csv_logger.h"
#include "engine/keras/callbacks/early_stopping.h"
#include "engine/keras/callbacks/reduce_lr_on_plateau.h"
#include "engine/keras/models/trainer.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

// Dense(2) "lin" on 3 features (keras 3.15 to_json).
constexpr const char* kLinModel =
    R"json({"module": "keras", "class_name": "Sequential", "config": {"name": "lin", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "layers": [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer_1", "optional": false}, "registered_name": null}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "lin", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "units": 2, "activation": "linear", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config": {"input_shape": [null, 3]}}], "build_input_shape": [null, 3]}, "registered_name": null, "build_config": {"input_shape": [null, 3]}, "compile_config": {}})json";

// Dense(2) "lin" with kernel_regularizer L2(0.05) (keras 3.15 to_json).
constexpr const char* kLinL2Model =
    R"json({"module": "keras", "class_name": "Sequential", "config": {"name": "lin_l2", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "layers": [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "sparse": false, "ragged": false, "name": "input_layer", "optional": false}, "registered_name": null}, {"module": "keras.layers", "class_name": "Dense", "config": {"name": "lin", "trainable": true, "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "units": 2, "activation": "linear", "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.05}, "registered_name": null}, "bias_regularizer": null, "kernel_constraint": null, "bias_constraint": null, "quantization_config": null}, "registered_name": null, "build_config": {"input_shape": [null, 3]}}], "build_input_shape": [null, 3]}, "registered_name": null, "build_config": {"input_shape": [null, 3]}, "compile_config": {}})json";

// The data gen_fit.py fed Keras: x_i = (0.1 i, i % 3 - 1, 0.5 - 0.07 i),
// y_i = (2 x0 - x1, x2 + 0.3).
Dataset LinData() {
  Tensor x(DType::kFloat32, Shape{10, 3});
  Tensor y(DType::kFloat32, Shape{10, 2});
  for (int i = 0; i < 10; ++i) {
    float* xi = x.data<float>() + i * 3;
    xi[0] = static_cast<float>(i * 0.1);
    xi[1] = static_cast<float>((i % 3) - 1.0);
    xi[2] = static_cast<float>(0.5 - i * 0.07);
    y.data<float>()[i * 2] = xi[0] * 2 - xi[1];
    y.data<float>()[i * 2 + 1] = xi[2] + 0.3f;
  }
  return Dataset{{x}, {y}};
}

std::unique_ptr<Trainer> LinTrainer(const json& optimizer, const char* model_json = kLinModel) {
  auto model = Model::FromJson(json::parse(model_json), "lin");
  EXPECT_TRUE(model.ok()) << model.status();
  CompileConfig config;
  config.optimizer = optimizer;
  config.loss = "mse";
  config.metrics = json::array({"mae"});
  auto trainer = Trainer::Create(*std::move(model), config, 1);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  VariableStore& store = (*trainer)->variables();
  const std::vector<float> kernel = {0.5f, -0.3f, 0.2f, 0.8f, -0.6f, 0.1f};
  const std::vector<float> bias = {0.1f, -0.2f};
  std::optional<int64_t> k = store.Find("lin/kernel");
  std::optional<int64_t> b = store.Find("lin/bias");
  EXPECT_TRUE(k && b);
  std::copy(kernel.begin(), kernel.end(), store.value(*k).data<float>());
  std::copy(bias.begin(), bias.end(), store.value(*b).data<float>());
  return *std::move(trainer);
}

TEST(FitMatchesKerasTest, LinearModelSgdMomentum) {
  auto trainer = LinTrainer(
      json{{"class_name", "SGD"}, {"config", {{"learning_rate", 0.1}, {"momentum", 0.5}}}});
  FitConfig fit;
  fit.epochs = 2;
  fit.batch_size = 4;  // 4, 4, 2: the short batch weighs half in "loss"
  fit.shuffle = false;
  absl::StatusOr<History> history = trainer->Fit(LinData(), nullptr, fit, {});
  ASSERT_TRUE(history.ok()) << history.status();
  // keras 3.15 (gen_fit.py): model.fit(x, y, batch_size=4, epochs=2, shuffle=False).
  const std::vector<double> loss = {1.2322371006011963, 0.39874327182769775};
  const std::vector<double> mae = {0.920343279838562, 0.5221489071846008};
  for (int e = 0; e < 2; ++e) {
    EXPECT_NEAR(history->at("loss")[e], loss[e], 2e-6);
    EXPECT_NEAR(history->at("mae")[e], mae[e], 2e-6);
  }
  const std::vector<float> kernel = {0.8276618719100952f,  -0.09375464171171188f,
                                     -0.5278562307357788f, 0.2920621931552887f,
                                     -0.5507072806358337f, 0.23776772618293762f};
  const std::vector<float> bias = {0.657312273979187f, 0.3642789423465729f};
  VariableStore& store = trainer->variables();
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(store.value(*store.Find("lin/kernel")).data<float>()[i], kernel[i], 2e-6);
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_NEAR(store.value(*store.Find("lin/bias")).data<float>()[i], bias[i], 2e-6);
  }
  absl::StatusOr<Logs> eval = trainer->Evaluate(LinData(), 3);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_NEAR(eval->at("loss"), 0.14736610651016235, 2e-6);
  EXPECT_NEAR(eval->at("mae"), 0.3175249993801117, 2e-6);
}

TEST(FitMatchesKerasTest, RegularizedAdamWithValidationSplit) {
  auto trainer =
      LinTrainer(json{{"class_name", "Adam"}, {"config", {{"learning_rate", 0.05}}}}, kLinL2Model);
  FitConfig fit;
  fit.epochs = 3;
  fit.batch_size = 3;
  fit.shuffle = false;
  fit.validation_split = 0.2;
  absl::StatusOr<History> history = trainer->Fit(LinData(), nullptr, fit, {});
  ASSERT_TRUE(history.ok()) << history.status();
  // keras 3.15 (gen_fit2.py): loss includes the L2 penalty; the last 2
  // samples validate.
  const std::map<std::string, std::vector<double>> keras = {
      {"loss", {1.2395262718200684, 0.7699977159500122, 0.4566012918949127}},
      {"mae", {0.9249299764633179, 0.7178707718849182, 0.5398433208465576}},
      {"val_loss", {1.4440698623657227, 0.9785197377204895, 0.6618296504020691}},
      {"val_mae", {0.8704696893692017, 0.7232074737548828, 0.5810914039611816}}};
  ASSERT_EQ(history->size(), keras.size());
  for (const auto& [name, values] : keras) {
    for (size_t e = 0; e < values.size(); ++e) {
      EXPECT_NEAR(history->at(name)[e], values[e], 5e-6) << name << " epoch " << e;
    }
  }
  const std::vector<float> kernel = {0.6378973722457886f,   0.059247393161058426f,
                                     -0.23946602642536163f, 0.36236438155174255f,
                                     -0.1901792287826538f,  0.4513695240020752f};
  VariableStore& store = trainer->variables();
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(store.value(*store.Find("lin/kernel")).data<float>()[i], kernel[i], 5e-6);
  }
}

std::vector<Tensor> Weights(Trainer& trainer) {
  std::vector<Tensor> weights;
  VariableStore& store = trainer.variables();
  for (int64_t i = 0; i < store.size(); ++i) {
    if (store.info(i).kind == VariableKind::kWeight) weights.push_back(store.value(i).Clone());
  }
  return weights;
}

TEST(EarlyStoppingTest, StopsAndRestoresBestWeights) {
  const json sgd = {{"class_name", "SGD"}, {"config", {{"learning_rate", 0.1}}}};
  FitConfig fit;
  fit.epochs = 10;
  fit.batch_size = 4;
  fit.shuffle = false;
  // The loss falls every epoch, so in "max" mode epoch 0 stays the best and
  // patience 1 stops at epoch 1 (Keras: wait counts from the best epoch).
  EarlyStoppingOptions options;
  options.monitor = "loss";
  options.mode = "max";
  options.patience = 1;
  options.restore_best_weights = true;
  auto stopper = EarlyStopping::Create(options);
  ASSERT_TRUE(stopper.ok());
  auto trainer = LinTrainer(sgd);
  absl::StatusOr<History> history = trainer->Fit(LinData(), nullptr, fit, {stopper->get()});
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->at("loss").size(), 2u);
  EXPECT_EQ((*stopper)->stopped_epoch(), 1);
  EXPECT_EQ((*stopper)->best_epoch(), 0);
  // Restored weights are those after epoch 0: train one epoch afresh.
  auto one_epoch = LinTrainer(sgd);
  fit.epochs = 1;
  ASSERT_TRUE(one_epoch->Fit(LinData(), nullptr, fit, {}).ok());
  std::vector<Tensor> restored = Weights(*trainer);
  std::vector<Tensor> expected = Weights(*one_epoch);
  ASSERT_EQ(restored.size(), expected.size());
  for (size_t i = 0; i < restored.size(); ++i) EXPECT_TRUE(restored[i].BitwiseEquals(expected[i]));
}

TEST(EarlyStoppingTest, AutoModeNeedsAKnownDirection) {
  auto trainer = LinTrainer("sgd");
  EarlyStoppingOptions options;
  options.monitor = "mystery";
  Logs logs = {{"mystery", 1.0}};
  auto stopper = EarlyStopping::Create(options);
  TrainingControl control;
  control.trainer = trainer.get();
  ASSERT_TRUE((*stopper)->OnTrainBegin(control).ok());
  EXPECT_FALSE((*stopper)->OnEpochEnd(control, 0, logs).ok());
  options.mode = "sideways";
  EXPECT_FALSE(EarlyStopping::Create(options).ok());
}

// Replays `losses` as epoch logs; returns the epoch training would stop after
// (-1: never), as Keras's EarlyStopping.on_epoch_end decides.
int StopEpoch(EarlyStoppingOptions options, const std::vector<double>& losses) {
  auto stopper = EarlyStopping::Create(options);
  EXPECT_TRUE(stopper.ok());
  TrainingControl control;
  EXPECT_TRUE((*stopper)->OnTrainBegin(control).ok());
  for (size_t e = 0; e < losses.size(); ++e) {
    EXPECT_TRUE((*stopper)->OnEpochEnd(control, static_cast<int>(e), {{"loss", losses[e]}}).ok());
    if (control.stop_training) return static_cast<int>(e);
  }
  return -1;
}

TEST(EarlyStoppingTest, BaselineMinDeltaAndStartFromEpoch) {
  EarlyStoppingOptions options;
  options.monitor = "loss";
  options.patience = 2;
  EXPECT_EQ(StopEpoch(options, {0.9, 0.95, 0.96, 0.97}), 2);
  options.baseline = 0.5;  // never beaten: the wait keeps counting
  EXPECT_EQ(StopEpoch(options, {0.9, 0.95, 0.96}), 1);
  EXPECT_EQ(StopEpoch(options, {0.9, 0.8, 0.7}), -1);  // improving: no stop check
  options.baseline.reset();
  options.min_delta = 0.2;  // improvements smaller than 0.2 do not count
  EXPECT_EQ(StopEpoch(options, {0.9, 0.8, 0.75, 0.7}), 2);
  options.min_delta = 0;
  options.start_from_epoch = 3;
  EXPECT_EQ(StopEpoch(options, {0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0}), 5);
}

TEST(ReduceLROnPlateauTest, ReducesAndLogsTheRate) {
  auto trainer = LinTrainer(json{{"class_name", "SGD"}, {"config", {{"learning_rate", 0.01}}}});
  ReduceLROnPlateauOptions options;
  options.monitor = "loss";
  options.mode = "max";  // the loss falls: never an improvement after epoch 0
  options.patience = 1;
  options.factor = 0.5;
  auto reducer = ReduceLROnPlateau::Create(options);
  ASSERT_TRUE(reducer.ok());
  FitConfig fit;
  fit.epochs = 4;
  fit.batch_size = 4;
  absl::StatusOr<History> history = trainer->Fit(LinData(), nullptr, fit, {reducer->get()});
  ASSERT_TRUE(history.ok()) << history.status();
  // Logged before each epoch's reduction, as float32 values.
  const std::vector<double> want = {0.01, 0.01, 0.005, 0.0025};
  ASSERT_EQ(history->at("learning_rate").size(), 4u);
  for (int e = 0; e < 4; ++e) EXPECT_NEAR(history->at("learning_rate")[e], want[e], 1e-9);
  EXPECT_NEAR(trainer->learning_rate(), 0.00125, 1e-9);
  options.factor = 1.0;
  EXPECT_FALSE(ReduceLROnPlateau::Create(options).ok());
}

ReduceLROnPlateauOptions CooldownOptions() {
  ReduceLROnPlateauOptions options;
  options.monitor = "loss";
  options.factor = 0.5;
  options.patience = 1;
  options.cooldown = 1;
  options.min_lr = 0.002;
  return options;
}

// keras 3.15 with CooldownOptions() and SGD at 0.01: (logs["learning_rate"],
// optimizer.learning_rate) after each on_epoch_end with kCooldownLosses.
const std::vector<double> kCooldownLosses = {1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5};
const std::vector<std::pair<double, double>> kCooldownKeras = {
    {0.009999999776482582, 0.009999999776482582},   {0.009999999776482582, 0.004999999888241291},
    {0.004999999888241291, 0.0024999999441206455},  {0.0024999999441206455, 0.0024999999441206455},
    {0.0024999999441206455, 0.0020000000949949026}, {0.0020000000949949026, 0.0020000000949949026},
    {0.0020000000949949026, 0.0020000000949949026}, {0.0020000000949949026, 0.0020000000949949026}};

TEST(ReduceLROnPlateauTest, CooldownAndMinLrMatchKeras) {
  auto trainer = LinTrainer(json{{"class_name", "SGD"}, {"config", {{"learning_rate", 0.01}}}});
  auto reducer = ReduceLROnPlateau::Create(CooldownOptions());
  ASSERT_TRUE(reducer.ok());
  TrainingControl control;
  control.trainer = trainer.get();
  ASSERT_TRUE((*reducer)->OnTrainBegin(control).ok());
  for (size_t e = 0; e < kCooldownLosses.size(); ++e) {
    Logs logs = {{"loss", kCooldownLosses[e]}};
    (*reducer)->AugmentEpochLogs(control, &logs);
    ASSERT_TRUE((*reducer)->OnEpochEnd(control, static_cast<int>(e), logs).ok());
    EXPECT_EQ(logs.at("learning_rate"), kCooldownKeras[e].first) << "epoch " << e;
    EXPECT_EQ(trainer->learning_rate(), kCooldownKeras[e].second) << "epoch " << e;
  }
}

// Handed the state after epoch 3 (in cooldown after a reduction), a new
// reducer gives the rates Keras gave with one reducer throughout; a fresh one
// would count epoch 4 as an improvement and not reduce.
TEST(ReduceLROnPlateauTest, ResumedStateContinuesCooldownAndWait) {
  auto trainer = LinTrainer(json{{"class_name", "SGD"}, {"config", {{"learning_rate", 0.01}}}});
  const ReduceLROnPlateauOptions options = CooldownOptions();
  auto reducer = ReduceLROnPlateau::Create(options);
  ASSERT_TRUE(reducer.ok());
  TrainingControl control;
  control.trainer = trainer.get();
  ASSERT_TRUE((*reducer)->OnTrainBegin(control).ok());
  for (size_t e = 0; e < kCooldownLosses.size(); ++e) {
    if (e == 4) {
      const json state = json::parse((*reducer)->State().dump());  // as a checkpoint holds it
      reducer = ReduceLROnPlateau::Create(options);
      ASSERT_TRUE((*reducer)->ResumeFrom(state).ok());
      ASSERT_TRUE((*reducer)->OnTrainBegin(control).ok());
    }
    Logs logs = {{"loss", kCooldownLosses[e]}};
    ASSERT_TRUE((*reducer)->OnEpochEnd(control, static_cast<int>(e), logs).ok());
    EXPECT_EQ(trainer->learning_rate(), kCooldownKeras[e].second) << "epoch " << e;
  }
}

// Handed the state after epoch 2 (waited 1 of 2 since the best, epoch 1,
// whose weights it holds), a new EarlyStopping stops after epoch 3 and puts
// those weights back, as one that ran throughout.
TEST(EarlyStoppingTest, ResumedStateKeepsPatienceBestAndWeights) {
  auto trainer = LinTrainer("sgd");
  EarlyStoppingOptions options;
  options.monitor = "loss";
  options.patience = 2;
  options.restore_best_weights = true;
  auto stopper = EarlyStopping::Create(options);
  TrainingControl control;
  control.trainer = trainer.get();
  ASSERT_TRUE((*stopper)->OnTrainBegin(control).ok());
  Tensor& bias = trainer->variables().value(*trainer->variables().Find("lin/bias"));
  const std::vector<double> losses = {0.9, 0.8, 0.85, 0.86};
  for (int e = 0; e < 3; ++e) {
    bias.data<float>()[0] = static_cast<float>(e);  // marks the epoch's weights
    ASSERT_TRUE((*stopper)->OnEpochEnd(control, e, {{"loss", losses[e]}}).ok());
  }
  const json state = (*stopper)->State();
  EXPECT_EQ(state["wait"], 1);
  EXPECT_EQ(state["best_epoch"], 1);

  stopper = EarlyStopping::Create(options);
  ASSERT_TRUE((*stopper)->ResumeFrom(state).ok());
  ASSERT_TRUE((*stopper)->OnTrainBegin(control).ok());
  bias.data<float>()[0] = 3;
  ASSERT_TRUE((*stopper)->OnEpochEnd(control, 3, {{"loss", losses[3]}}).ok());
  EXPECT_TRUE(control.stop_training);
  EXPECT_EQ((*stopper)->stopped_epoch(), 3);
  EXPECT_EQ((*stopper)->best_epoch(), 1);
  ASSERT_TRUE((*stopper)->OnTrainEnd(control, {}).ok());
  EXPECT_EQ(bias.data<float>()[0], 1.0f);
}

TEST(EarlyStoppingTest, BadResumedStateNamesTheField) {
  auto stopper = EarlyStopping::Create({});
  const json good = {{"wait", 1},
                     {"stopped_epoch", 0},
                     {"best_epoch", 0},
                     {"best", nullptr},
                     {"best_weights", json::array()}};
  EXPECT_TRUE((*stopper)->ResumeFrom(good).ok());
  struct Case {
    const char* field;
    json value;
    const char* message;
  } cases[] = {
      {"wait", -1, "wait: expected an integer in [0, 2^30]"},
      {"best", 0.5, "best: expected null or 16 hex digits (a double's bits)"},
      {"best", "3fe00000", "best: expected 16 hex digits"},
      {"best_weights", json::array({{{"dtype", "float32"}}}), "best_weights[0]: expected {"},
      {"best_weights",
       json::array(
           {{{"dtype", "float32"}, {"shape", json::array()}, {"bytes", json::binary({1, 2, 3})}}}),
       "best_weights[0].bytes: expected 4 bytes, got 3"},
  };
  for (const Case& c : cases) {
    json state = good;
    state[c.field] = c.value;
    const absl::Status status = (*stopper)->ResumeFrom(state);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << state.dump();
    EXPECT_NE(status.message().find(c.message), std::string::npos) << status.message();
  }
  // Best weights that are not the model's are refused before training.
  auto trainer = LinTrainer("sgd");
  TrainingControl control;
  control.trainer = trainer.get();
  json state = good;
  state["best_weights"] = json::array({TensorStateJson(Tensor::Scalar(1.0f))});
  ASSERT_TRUE((*stopper)->ResumeFrom(state).ok());
  const absl::Status status = (*stopper)->OnTrainBegin(control);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("do not fit the model's weight lin/kernel"), std::string::npos)
      << status.message();
}

TEST(CsvLoggerTest, WritesKerasFormat) {
  EXPECT_EQ(PythonFloatRepr(1.304731011390686), "1.304731011390686");
  EXPECT_EQ(PythonFloatRepr(0.25), "0.25");
  EXPECT_EQ(PythonFloatRepr(static_cast<double>(1e-5f)), "9.999999747378752e-06");
  EXPECT_EQ(PythonFloatRepr(1.5e16), "1.5e+16");
  EXPECT_EQ(PythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PythonFloatRepr(123456789.0), "123456789.0");
  EXPECT_EQ(PythonFloatRepr(static_cast<double>(0.1f)), "0.10000000149011612");
  EXPECT_EQ(PythonFloatRepr(0.0), "0.0");

  const std::string path =
      (std::filesystem::temp_directory_path() / "fornax_csv_logger_test.csv").string();
  auto trainer = LinTrainer("sgd");
  CsvLogger logger(path, ";");
  FitConfig fit;
  fit.epochs = 2;
  fit.batch_size = 4;
  absl::StatusOr<History> history = trainer->Fit(LinData(), nullptr, fit, {&logger});
  ASSERT_TRUE(history.ok()) << history.status();
  const std::string text = testing::ReadFileOrEmpty(path);
  // Keras: no validation keys in the first epoch -> val_ columns of "NA".
  const std::string want = "epoch;loss;mae;val_loss;val_mae\r\n0;" +
                           PythonFloatRepr(history->at("loss")[0]) + ";" +
                           PythonFloatRepr(history->at("mae")[0]) + ";NA;NA\r\n1;" +
                           PythonFloatRepr(history->at("loss")[1]) + ";" +
                           PythonFloatRepr(history->at("mae")[1]) + ";NA;NA\r\n";
  EXPECT_EQ(text, want);
  std::remove(path.c_str());
}

// The resume of the file itself is JobRunnerTest.ResumedCsvLoggerFileEqualsAStraightRunsFile.
TEST(CsvLoggerTest, BadResumedStateNamesTheField) {
  CsvLogger logger("unused.csv");
  const json good = {{"kept_bytes", 0}, {"keys", json::array({"loss"})}, {"rows", "0,1.0\r\n"}};
  EXPECT_TRUE(logger.ResumeFrom(good).ok());
  EXPECT_TRUE(logger.ResumeFrom(nullptr).ok());  // a checkpoint from before it kept rows
  struct Case {
    const char* field;
    json value;
    const char* message;
  } cases[] = {
      {"kept_bytes", -1, "kept_bytes: expected a byte count"},
      {"keys", json::array({1}), "keys: expected null or a list of column names"},
      {"rows", nullptr, "rows: expected a string"},
  };
  for (const Case& c : cases) {
    json state = good;
    state[c.field] = c.value;
    const absl::Status status = logger.ResumeFrom(state);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << state.dump();
    EXPECT_NE(status.message().find(c.message), std::string::npos) << status.message();
  }
}

TEST(CallbackFromConfigTest, ParsesKerasSerializedForms) {
  auto early = CallbackFromConfig(json::parse(
      R"({"class_name": "EarlyStopping", "config": {"monitor": "val_accuracy", "patience": 2}})"));
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_NE(dynamic_cast<EarlyStopping*>(early->get()), nullptr);
  // Each reports the class it was made from, which keys its checkpoint state.
  EXPECT_EQ((*early)->class_name(), "EarlyStopping");
  auto reduce = CallbackFromConfig(json::parse(R"({"ReduceLROnPlateau": {"factor": 0.2}})"));
  ASSERT_TRUE(reduce.ok()) << reduce.status();
  EXPECT_EQ((*reduce)->class_name(), "ReduceLROnPlateau");
  auto nan = CallbackFromConfig(json::parse(R"("TerminateOnNaN")"));
  ASSERT_TRUE(nan.ok()) << nan.status();
  EXPECT_EQ((*nan)->class_name(), "TerminateOnNaN");
  auto csv =
      CallbackFromConfig(json::parse(R"({"CSVLogger": {"filename": "log.csv", "append": true}})"));
  ASSERT_TRUE(csv.ok()) << csv.status();
  EXPECT_EQ((*csv)->class_name(), "CSVLogger");

  auto unknown_field = CallbackFromConfig(
      json::parse(R"({"class_name": "EarlyStopping", "config": {"patiense": 2}})"));
  ASSERT_FALSE(unknown_field.ok());
  EXPECT_NE(unknown_field.status().message().find("patiense"), std::string::npos);
  auto unknown_class = CallbackFromConfig(json::parse(R"({"class_name": "ModelCheckpoint"})"));
  ASSERT_FALSE(unknown_class.ok());
  EXPECT_NE(unknown_class.status().message().find("ModelCheckpoint"), std::string::npos);
  EXPECT_FALSE(CallbackFromConfig(json::parse(R"({"CSVLogger": {}})")).ok());
  EXPECT_FALSE(CallbackFromConfig(
                   json::parse(R"({"class_name": "EarlyStopping", "config": {"patience": "two"}})"))
                   .ok());
}

}  // namespace
}  // namespace fornax
