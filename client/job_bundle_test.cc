#include "client/job_bundle.h"

#include <filesystem>

#include "engine/data/test_files.h"
#include "engine/job/job_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string SourceFile(const std::string& rel) { return testing::SourceDir() + "/" + rel; }

// A job using every way the job file names data: "file.npz:key", a map with
// path + key, a list, and a map by input name; the same file twice.
class JobBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::copy_file(SourceFile("examples/fashion_mlp/model.json"),
                               dir_.File("model.json"));
    testing::WriteFile(dir_.File("data/train.npz"), "abc");
    testing::WriteFile(dir_.File("data/labels.npy"), "labels");
    testing::WriteFile(dir_.File("other/test_x.npy"), "test-x");
  }

  std::string WriteJob(const std::string& model_line, const std::string& data) {
    const std::string job = dir_.File("job.yaml");
    testing::WriteFile(job, model_line + R"(
compile: {optimizer: adam, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
fit: {epochs: 2, batch_size: 32}
)" + data);
    return job;
  }

  testing::TempDir dir_;
};

TEST_F(JobBundleTest, RewritesEveryDataPathKeepingNpzKeysAndInlinesTheModel) {
  const std::string job = WriteJob("model: model.json", R"(
data:
  train:
    x: data/train.npz:x
    y: {path: data/train.npz, key: y, dtype: int32}
  validation:
    x: [data/train.npz:vx]
    y: data/labels.npy
  test:
    x: {dense_input: other/test_x.npy}
    y: data/labels.npy
)");
  absl::StatusOr<JobBundle> bundle = BundleJob(job);
  ASSERT_TRUE(bundle.ok()) << bundle.status();

  // One upload per distinct file, in first-use order.
  ASSERT_EQ(bundle->files.size(), 3u);
  EXPECT_EQ(bundle->files[0].digest.sha256, kAbcSha256);
  EXPECT_EQ(bundle->files[0].digest.size_bytes, 3);
  EXPECT_EQ(bundle->files[0].name, "train.npz");
  EXPECT_EQ(bundle->files[0].local_path, dir_.File("data/train.npz"));
  const std::string train = std::string("inputs/") + kAbcSha256 + "/train.npz";
  EXPECT_EQ(bundle->files[0].input_path, train);
  ASSERT_EQ(bundle->spec.inputs_size(), 3);
  EXPECT_EQ(bundle->spec.inputs(0).path(), train);
  EXPECT_EQ(bundle->spec.inputs(0).sha256(), kAbcSha256);
  EXPECT_EQ(bundle->spec.inputs(0).size_bytes(), 3);

  YAML::Node root = YAML::Load(bundle->spec.job_yaml());
  EXPECT_EQ(root["model"].as<std::string>(), "model.json");
  EXPECT_EQ(root["data"]["train"]["x"].as<std::string>(), train + ":x");
  EXPECT_EQ(root["data"]["train"]["y"]["path"].as<std::string>(), train);
  EXPECT_EQ(root["data"]["train"]["y"]["key"].as<std::string>(), "y");
  EXPECT_EQ(root["data"]["train"]["y"]["dtype"].as<std::string>(), "int32");
  EXPECT_EQ(root["data"]["validation"]["x"][0].as<std::string>(), train + ":vx");
  EXPECT_EQ(root["data"]["validation"]["y"].as<std::string>(), bundle->files[1].input_path);
  EXPECT_EQ(root["data"]["test"]["x"]["dense_input"].as<std::string>(),
            bundle->files[2].input_path);
  EXPECT_EQ(root["fit"]["epochs"].as<int>(), 2);
  EXPECT_EQ(bundle->spec.model_json(), testing::ReadFileOrEmpty(dir_.File("model.json")));
}

TEST_F(JobBundleTest, TheRewrittenJobParsesInTheDirectoryAWorkerBuilds) {
  const std::string job = WriteJob("model: model.json", R"(
data:
  train: {x: data/train.npz:x, y: data/labels.npy}
)");
  absl::StatusOr<JobBundle> bundle = BundleJob(job);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  // What the worker does: job.yaml, model.json and inputs/<sha>/<name>.
  const std::string job_dir = dir_.File("worker_job") + "/";
  testing::WriteFile(job_dir + "job.yaml", bundle->spec.job_yaml());
  testing::WriteFile(job_dir + "model.json", bundle->spec.model_json());
  for (const BundledFile& file : bundle->files) {
    testing::WriteFile(job_dir + file.input_path, testing::ReadFileOrEmpty(file.local_path));
  }
  absl::StatusOr<JobSpec> parsed = ParseJobFile(job_dir + "job.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->model_path, job_dir + "model.json");
  ASSERT_TRUE(parsed->train.has_value());
  const DataSource& x = parsed->train->x.sources[0].second;
  EXPECT_EQ(x.path, job_dir + bundle->files[0].input_path);
  EXPECT_EQ(x.npz_key, "x");
  EXPECT_EQ(testing::ReadFileOrEmpty(x.path), "abc");
  EXPECT_EQ(parsed->fit.epochs, 2);
}

TEST_F(JobBundleTest, QuotedScalarsStayQuotedAndPlainOnesPlain) {
  const std::string job = dir_.File("job.yaml");
  testing::WriteFile(job, R"(model: model.json
compile: {optimizer: {class_name: Adam, config: {learning_rate: 0.001}}, loss: mse,
          metrics: ["accuracy"]}
fit: {epochs: 3, shuffle: true}
)");
  absl::StatusOr<JobBundle> bundle = BundleJob(job);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  YAML::Node root = YAML::Load(bundle->spec.job_yaml());
  EXPECT_EQ(root["compile"]["metrics"][0].Tag(), "!") << bundle->spec.job_yaml();
  EXPECT_EQ(root["compile"]["metrics"][0].Scalar(), "accuracy");
  EXPECT_EQ(root["compile"]["optimizer"]["config"]["learning_rate"].Tag(), "?");
  EXPECT_EQ(root["compile"]["optimizer"]["config"]["learning_rate"].Scalar(), "0.001");
  EXPECT_EQ(root["fit"]["shuffle"].Tag(), "?");
  EXPECT_EQ(root["model"].Tag(), "?");
}

TEST_F(JobBundleTest, AKerasModelIsAnInputNotInlined) {
  testing::WriteFile(dir_.File("start.keras"), "not really a zip");
  const std::string job = WriteJob("model: start.keras", "");
  absl::StatusOr<JobBundle> bundle = BundleJob(job);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  ASSERT_EQ(bundle->files.size(), 1u);
  EXPECT_EQ(bundle->files[0].name, "start.keras");
  EXPECT_TRUE(bundle->spec.model_json().empty());
  EXPECT_EQ(YAML::Load(bundle->spec.job_yaml())["model"].as<std::string>(),
            bundle->files[0].input_path);
}

TEST_F(JobBundleTest, BadJobFailsWithTheEnginesFieldMessage) {
  const std::string job = dir_.File("job.yaml");
  testing::WriteFile(job, "model: model.json\ncompile: {loss: mse}\nfit: {batch_size: abc}\n");
  absl::StatusOr<JobBundle> bundle = BundleJob(job);
  ASSERT_FALSE(bundle.ok());
  EXPECT_EQ(bundle.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bundle.status().message(), HasSubstr("fit.batch_size"));
}

TEST_F(JobBundleTest, MissingDataFileNamesTheField) {
  const std::string job = WriteJob("model: model.json", R"(
data:
  train: {x: data/train.npz:x, y: data/missing.npy}
)");
  absl::StatusOr<JobBundle> bundle = BundleJob(job);
  ASSERT_FALSE(bundle.ok());
  EXPECT_EQ(bundle.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(bundle.status().message(), HasSubstr("data.train.y.path"));
  EXPECT_THAT(bundle.status().message(), HasSubstr("missing.npy"));
}

TEST_F(JobBundleTest, InvalidModelJsonIsCaughtBeforeSubmitting) {
  testing::WriteFile(dir_.File("broken.json"), "{\"class_name\": \"Sequential\", \"config\": 7}");
  const std::string job = WriteJob("model: broken.json", "");
  absl::StatusOr<JobBundle> bundle = BundleJob(job);
  ASSERT_FALSE(bundle.ok());
  EXPECT_EQ(bundle.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Sha256Test, MatchesKnownDigests) {
  Sha256 empty;
  EXPECT_EQ(empty.HexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("a");
  abc.Update("bc");
  EXPECT_EQ(abc.HexDigest(), kAbcSha256);
  EXPECT_EQ(Sha256File("/nonexistent/file").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace fornax
