// A model's config file: Triton's config.pbtxt (parsed, scoped to what
// Fornax honours, its tensors checked against a real .keras model) and the
// version_policy of config.json; SelectVersions.
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/data/test_files.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/inference/model_settings.h"
#include "server/inference/served_model.h"

namespace fornax::serving {
namespace {

namespace fs = std::filesystem;

constexpr char kSource[] = "models/mlp/config.pbtxt";

absl::StatusOr<ModelSettings> Parse(const std::string& text) {
  return ParseModelConfigPbtxt(text, kSource, "mlp");
}

// The error of parsing `text`, or "ok".
std::string Error(const std::string& text) {
  absl::StatusOr<ModelSettings> settings = Parse(text);
  if (settings.ok()) return "ok";
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(settings.status().message());
}

TEST(ModelConfigTest, PbtxtSetsBatchingPolicyAndTensors) {
  absl::StatusOr<ModelSettings> settings = Parse(R"pb(
    name: "mlp"
    platform: "keras"
    max_batch_size: 16
    version_policy: { latest: { num_versions: 2 } } input
    [ {
      name: "x",
      data_type: TYPE_FP32,
      dims: [ 6 ]
    }] output
    [ {
      name: "dense_2",
      data_type: TYPE_FP32,
      dims: [ 3 ]
    }]
    dynamic_batching {
      preferred_batch_size: [ 4, 8 ]
      max_queue_delay_microseconds: 300
      preserve_ordering: true
    } instance_group
    [ { count: 2, kind: KIND_CPU }]
  )pb");
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->batching.max_batch_size, 16);
  EXPECT_TRUE(settings->batching.dynamic_batching);
  EXPECT_EQ(settings->batching.preferred_batch_sizes, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(settings->batching.max_queue_delay_us, 300);
  EXPECT_EQ(settings->version_policy.latest().num_versions(), 2u);
  ASSERT_EQ(settings->inputs.size(), 1u);
  EXPECT_EQ(settings->inputs[0].name(), "x");
  EXPECT_EQ(settings->outputs.size(), 1u);
  EXPECT_EQ(settings->source, kSource);
}

// As in Triton: no dynamic_batching block, no dynamic batching; no
// version_policy, the latest version only.
TEST(ModelConfigTest, PbtxtDefaultsAreTritons) {
  absl::StatusOr<ModelSettings> settings = Parse("max_batch_size: 8");
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_FALSE(settings->batching.dynamic_batching);
  EXPECT_TRUE(settings->version_policy.has_latest());
  EXPECT_EQ(settings->version_policy.latest().num_versions(), 1u);
  EXPECT_TRUE(settings->inputs.empty());
}

TEST(ModelConfigTest, ParseErrorsNameTheFileLineAndColumn) {
  EXPECT_EQ(Error("max_batch_size: 8\ndynamic_batching { preferred_batch_size: [4, }\n"),
            "models/mlp/config.pbtxt:2:46: Expected integer, got: }");
  EXPECT_EQ(Error("max_batch_size: \"eight\""),
            "models/mlp/config.pbtxt:1:17: Expected integer, got: \"eight\"");
}

TEST(ModelConfigTest, TritonSettingsFornaxDoesNotHonourAreRefusedByName) {
  const std::string base = "max_batch_size: 8\n";
  const std::string hint =
      " (Fornax refuses the Triton settings it does not honour; docs/serving.md lists those it "
      "takes)";
  EXPECT_EQ(Error(base + "optimization { }"),
            "models/mlp/config.pbtxt:2:14: Message type \"inference.ModelConfig\" has no field "
            "named \"optimization\"." +
                hint);
  for (const std::string field :
       {"sequence_batching", "ensemble_scheduling", "model_warmup", "batch_input",
        "default_model_filename", "response_cache", "model_repository_agents"}) {
    EXPECT_NE(Error(base + field + " { }").find("has no field named \"" + field + "\""),
              std::string::npos)
        << field;
  }
  EXPECT_NE(Error(base + "dynamic_batching { priority_levels: 2 }")
                .find("\"inference.ModelDynamicBatching\" has no field named \"priority_levels\""),
            std::string::npos);
  EXPECT_NE(Error(base + "instance_group [ { kind: KIND_CPU, gpus: [0] } ]")
                .find("has no field named \"gpus\""),
            std::string::npos);
  EXPECT_NE(Error(base + "input [ { name: \"x\", reshape: { shape: [6] } } ]")
                .find("has no field named \"reshape\""),
            std::string::npos);
  EXPECT_EQ(Error(base + "instance_group [ { kind: KIND_CPU }, { kind: KIND_GPU } ]"),
            "models/mlp/config.pbtxt: instance_group[1].kind: KIND_GPU is not supported: Fornax "
            "runs one instance of each version (KIND_AUTO or KIND_CPU)");
  EXPECT_EQ(Error(base + "parameters { key: \"k\" value { string_value: \"v\" } }"),
            "models/mlp/config.pbtxt: parameters[\"k\"]: Fornax's Keras backend takes no "
            "parameters");
  EXPECT_EQ(Error(base + "model_transaction_policy { decoupled: true }"),
            "models/mlp/config.pbtxt: model_transaction_policy.decoupled: decoupled models are "
            "not supported (one response per request)");
  EXPECT_EQ(Error(base + "input [ { name: \"x\" optional: true } ]"),
            "models/mlp/config.pbtxt: input 'x'.optional: every input of a Keras model is "
            "required");
}

TEST(ModelConfigTest, BadValuesAreRefusedWithTheField) {
  const std::string no_batch =
      "models/mlp/config.pbtxt: max_batch_size: expected an integer >= 1, got 0 (0, or leaving "
      "it out, means no batch dimension to Triton; the first dimension of a Keras model is "
      "always the batch)";
  EXPECT_EQ(Error("max_batch_size: 0"), no_batch);
  EXPECT_EQ(Error("dynamic_batching { }"), no_batch);
  EXPECT_EQ(Error("name: \"cnn\" max_batch_size: 8"),
            "models/mlp/config.pbtxt: name: 'cnn' does not match the model's directory 'mlp' "
            "(Triton requires them to be equal)");
  EXPECT_EQ(Error("platform: \"onnxruntime_onnx\" max_batch_size: 8"),
            "models/mlp/config.pbtxt: platform: 'onnxruntime_onnx' is not served here: this "
            "server runs .keras models (leave it out, or use 'keras' or 'fornax')");
  EXPECT_EQ(Error("backend: \"python\" max_batch_size: 8"),
            "models/mlp/config.pbtxt: backend: 'python' is not served here: this server runs "
            ".keras models (leave it out, or use 'keras' or 'fornax')");
  EXPECT_EQ(Error("backend: \"fornax\" platform: \"keras\" name: \"mlp\" max_batch_size: 8"), "ok");
  EXPECT_EQ(Error("max_batch_size: 8 dynamic_batching { preferred_batch_size: [16] }"),
            "models/mlp/config.pbtxt: dynamic_batching.preferred_batch_size: expected sizes in "
            "1..max_batch_size (8), got 16");
  EXPECT_EQ(Error("max_batch_size: 8 version_policy { latest { num_versions: 0 } }"),
            "models/mlp/config.pbtxt: version_policy.latest.num_versions: expected an integer "
            ">= 1");
  EXPECT_EQ(Error("max_batch_size: 8 version_policy { specific { } }"),
            "models/mlp/config.pbtxt: version_policy.specific.versions: expected at least one "
            "version number");
}

TEST(ModelConfigTest, LabelFilenamesAreFilesBesideTheConfig) {
  absl::StatusOr<ModelSettings> settings = Parse(
      "max_batch_size: 8 output [ { name: \"y\" label_filename: \"labels.txt\" },\n"
      "{ name: \"z\" }, { name: \"w\" label_filename: \"labels/w.txt\" } ]");
  ASSERT_TRUE(settings.ok()) << settings.status();
  ASSERT_EQ(settings->label_files.size(), 2u);
  EXPECT_EQ(settings->label_files[0].output, "y");
  EXPECT_EQ(settings->label_files[0].filename, "labels.txt");
  EXPECT_EQ(settings->label_files[0].path, "models/mlp/labels.txt");
  EXPECT_EQ(settings->label_files[1].output, "w");
  EXPECT_EQ(settings->label_files[1].path, "models/mlp/labels/w.txt");

  // Each refused with the file, the output and the field.
  const auto labelled = [](const std::string& filename) {
    return Error("max_batch_size: 8 output [ { name: \"y\" label_filename: \"" + filename +
                 "\" } ]");
  };
  const std::string field = "models/mlp/config.pbtxt: output 'y'.label_filename: ";
  EXPECT_EQ(labelled("/etc/labels.txt"),
            field + "'/etc/labels.txt' is absolute; expected a file in the model directory");
  EXPECT_EQ(labelled("../cnn/labels.txt"),
            field + "'../cnn/labels.txt' has a '..' part; expected a file in the model directory");
  EXPECT_EQ(labelled("labels//a.txt"),
            field +
                "'labels//a.txt' has an empty part ('//' or a final '/'); expected a file in the "
                "model directory");
  EXPECT_EQ(labelled("caf\\xe9.txt"),  // Latin-1: ModelConfig could not answer it
            field + "'caf\\xe9.txt' is not UTF-8; expected a file in the model directory");
  EXPECT_TRUE(Parse("max_batch_size: 8 output [ { name: \"y\" label_filename: "
                    "\"caf\\303\\251.txt\" } ]")
                  .ok());
  EXPECT_EQ(labelled("labels\\\\a.txt"),
            field +
                "'labels\\a.txt' has a backslash at byte 6; expected a file in the model "
                "directory");
}

TEST(ModelConfigTest, SelectVersionsFollowsThePolicy) {
  const std::vector<int64_t> available = {1, 2, 5, 7};
  inference::ModelVersionPolicy policy = DefaultVersionPolicy();
  EXPECT_EQ(SelectVersions(policy, available), (std::vector<int64_t>{7}));
  policy.mutable_latest()->set_num_versions(3);
  EXPECT_EQ(SelectVersions(policy, available), (std::vector<int64_t>{2, 5, 7}));
  policy.mutable_latest()->set_num_versions(9);
  EXPECT_EQ(SelectVersions(policy, available), available);
  policy.mutable_all();
  EXPECT_EQ(SelectVersions(policy, available), available);
  policy.mutable_specific()->add_versions(5);
  policy.mutable_specific()->add_versions(1);
  policy.mutable_specific()->add_versions(3);  // not there: not served
  EXPECT_EQ(SelectVersions(policy, available), (std::vector<int64_t>{1, 5}));
  EXPECT_TRUE(SelectVersions(DefaultVersionPolicy(), {}).empty());
}

class ModelDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            absl::StrCat("fornax_model_config_test_", ::getpid(), "_",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(Dir() / "1");
    // mlp_sgd: input 'x' float32 [None, 6], output 'dense_2' float32 [None, 3].
    fs::copy_file(fs::path(testing::SourceDir()) / "tests/testdata/archives/mlp_sgd.keras",
                  Dir() / "1" / "model.keras");
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path Dir() const { return root_ / "mlp"; }
  void WriteConfig(const std::string& file, const std::string& text) {
    std::ofstream(Dir() / file) << text;
  }
  // The error of loading version 1 with the config written, or "ok".
  std::string LoadError() {
    absl::StatusOr<std::shared_ptr<ServedModel>> model =
        LoadServedModel("mlp", 1, Dir().string(), &metrics_);
    return model.ok() ? "ok" : std::string(model.status().message());
  }
  std::string Pbtxt() const { return (Dir() / "config.pbtxt").string(); }

  fs::path root_;
  prometheus::Registry registry_;
  InferenceMetrics metrics_{registry_};
};

TEST_F(ModelDirTest, DeclaredTensorsAreCheckedAgainstTheModel) {
  const std::string output =
      "output [ { name: \"dense_2\", data_type: TYPE_FP32, dims: [ 3 ] } ]\n";
  WriteConfig("config.pbtxt",
              "max_batch_size: 8\n"
              "input [ { name: \"x\", data_type: TYPE_FP32, dims: [ 6 ] } ]\n" +
                  output);
  EXPECT_EQ(LoadError(), "ok");

  WriteConfig("config.pbtxt",
              "max_batch_size: 8\n"
              "input [ { name: \"x\", data_type: TYPE_FP32, dims: [ 1, 6 ] } ]\n" +
                  output);
  EXPECT_EQ(LoadError(),
            Pbtxt() +
                ": input 'x': dims [1,6] do not match the model's [6] (without the batch "
                "dimension; -1 is a variable one)");

  WriteConfig("config.pbtxt",
              "max_batch_size: 8\n"
              "input [ { name: \"x\", data_type: TYPE_FP16, dims: [ 6 ] } ]\n" +
                  output);
  EXPECT_EQ(LoadError(),
            Pbtxt() + ": input 'x': data_type TYPE_FP16 does not match the model's TYPE_FP32");

  WriteConfig("config.pbtxt",
              "max_batch_size: 8\n"
              "input [ { name: \"input_1\", data_type: TYPE_FP32, dims: [6] } ]");
  EXPECT_EQ(LoadError(),
            Pbtxt() + ": input 'input_1': the model has no such input; its inputs are 'x'");

  WriteConfig("config.pbtxt",
              "max_batch_size: 8\n"
              "input [ { name: \"x\", data_type: TYPE_FP32, dims: [ 6 ] },\n"
              "        { name: \"x\", data_type: TYPE_FP32, dims: [ 6 ] } ]");
  EXPECT_EQ(LoadError(), Pbtxt() + ": input 'x': declared twice");

  WriteConfig("config.pbtxt",
              "max_batch_size: 8\n"
              "input [ { name: \"x\", data_type: TYPE_FP32, dims: [ 6 ] } ]\n"
              "output [ { name: \"probs\", data_type: TYPE_FP32, dims: [3] } ]");
  EXPECT_EQ(LoadError(),
            Pbtxt() + ": output 'probs': the model has no such output; its outputs are 'dense_2'");
}

TEST_F(ModelDirTest, ThePbtxtSettingsReachTheServedModel) {
  WriteConfig("config.pbtxt",
              "max_batch_size: 4 version_policy { all { } }\n"
              "dynamic_batching { max_queue_delay_microseconds: 100 }");
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      LoadServedModel("mlp", 1, Dir().string(), &metrics_);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->config.max_batch_size, 4);
  EXPECT_EQ((*model)->signature.max_batch_size, 4);
  EXPECT_EQ((*model)->config.max_queue_delay_us, 100);
  EXPECT_TRUE((*model)->version_policy.has_all());
}

TEST_F(ModelDirTest, LabelsFilesAreReadAtLoad) {
  WriteConfig("config.pbtxt",
              "max_batch_size: 8\n"
              "output [ { name: \"dense_2\", data_type: TYPE_FP32, dims: [ 3 ],\n"
              "           label_filename: \"labels.txt\" } ]");
  const std::string labels = (Dir() / "labels.txt").string();
  EXPECT_EQ(LoadError(),
            Pbtxt() + ": output 'dense_2'.label_filename: " + labels + ": no such file");
  fs::create_directory(labels);
  EXPECT_EQ(LoadError(), Pbtxt() + ": output 'dense_2'.label_filename: " + labels +
                             ": is a directory, expected a file");
  fs::remove(labels);

  WriteConfig("labels.txt", "cat\n\nbird\n");
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      LoadServedModel("mlp", 1, Dir().string(), &metrics_);
  ASSERT_TRUE(model.ok()) << model.status();
  const auto& by_output = (*model)->signature.labels;
  ASSERT_EQ(by_output.size(), 1u);
  EXPECT_EQ(by_output.at("dense_2").filename, "labels.txt");
  EXPECT_EQ(by_output.at("dense_2").labels, (std::vector<std::string>{"cat", "", "bird"}));

  // A label file on an output the model does not have: the output is named.
  WriteConfig("config.pbtxt",
              "max_batch_size: 8\n"
              "output [ { name: \"probs\", data_type: TYPE_FP32, dims: [3],\n"
              "           label_filename: \"labels.txt\" } ]");
  EXPECT_EQ(LoadError(),
            Pbtxt() + ": output 'probs': the model has no such output; its outputs are 'dense_2'");
}

TEST_F(ModelDirTest, ConfigJsonAndPbtxtTogetherAreRefused) {
  WriteConfig("config.json", "{\"max_batch_size\": 8}");
  WriteConfig("config.pbtxt", "max_batch_size: 8");
  EXPECT_EQ(LoadError(),
            Dir().string() + ": both config.json and config.pbtxt are present; keep only one");
}

TEST_F(ModelDirTest, ConfigJsonTakesAVersionPolicy) {
  WriteConfig("config.json",
              R"({"max_batch_size": 8, "version_policy": {"specific": {"versions": [1, 3]}}})");
  absl::StatusOr<ModelSettings> settings = ReadModelSettings(Dir().string());
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->batching.max_batch_size, 8);
  EXPECT_TRUE(settings->batching.dynamic_batching) << "config.json keeps Fornax's default";
  ASSERT_TRUE(settings->version_policy.has_specific());
  EXPECT_EQ(settings->version_policy.specific().versions_size(), 2);

  WriteConfig("config.json", R"({"version_policy": {"newest": {}}})");
  EXPECT_EQ(ReadModelSettings(Dir().string()).status().message(),
            (Dir() / "config.json").string() +
                ": version_policy: expected {\"latest\": {\"num_versions\": N}}, {\"all\": {}} "
                "or {\"specific\": {\"versions\": [...]}}");
  WriteConfig("config.json", R"({"version_policy": {"latest": {"num_versions": 0}}})");
  EXPECT_EQ(ReadModelSettings(Dir().string()).status().message(),
            (Dir() / "config.json").string() +
                ": version_policy.latest.num_versions: expected an integer >= 1, got 0");

  fs::remove(Dir() / "config.json");
  settings = ReadModelSettings(Dir().string());
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(settings->version_policy.latest().num_versions(), 1u);
  EXPECT_EQ(settings->batching.max_batch_size, 64);
}

}  // namespace
}  // namespace fornax::serving
