// A job whose model is an uploaded .keras archive the engine cannot load is
// refused at submit (INVALID_ARGUMENT naming the input, the archive's member
// and the reader's reason), not accepted to fail on every attempt.
#include <zip.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_replace.h"
#include "engine/archive/example_archive_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_cluster.h"

namespace fornax::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// The MLP example's model, compiled, saved as a .keras archive's bytes.
std::string MlpArchiveBytes(const TestDir& dir) {
  const std::string path = dir.Join("mlp.keras");
  return testing::SaveExampleArchive("fashion_mlp", path) ? testing::ReadFileOrEmpty(path) : "";
}

// The archive's members by name.
std::map<std::string, std::string> Members(const TestDir& dir, const std::string& bytes) {
  const std::string path = dir.Join("members.keras");
  testing::WriteFile(path, bytes);
  std::map<std::string, std::string> members;
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
  EXPECT_NE(zip, nullptr);
  if (zip == nullptr) return members;
  for (zip_int64_t i = 0; i < zip_get_num_entries(zip, 0); ++i) {
    zip_stat_t stat;
    zip_stat_index(zip, i, 0, &stat);
    std::string data(stat.size, '\0');
    zip_file_t* file = zip_fopen_index(zip, i, 0);
    zip_fread(file, data.data(), stat.size);
    zip_fclose(file);
    members[stat.name] = std::move(data);
  }
  zip_discard(zip);
  return members;
}

// An archive of `members`, as bytes.
std::string ZipBytes(const TestDir& dir, const std::map<std::string, std::string>& members) {
  const std::string path = dir.Join("rezipped.keras");
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  EXPECT_NE(zip, nullptr);
  if (zip == nullptr) return "";
  for (const auto& [name, data] : members) {
    zip_source_t* source = zip_source_buffer(zip, data.data(), data.size(), 0);
    EXPECT_GE(zip_file_add(zip, name.c_str(), source, 0), 0);
  }
  EXPECT_EQ(zip_close(zip), 0);
  return testing::ReadFileOrEmpty(path);
}

// Uploads `archive` as model.keras and submits the valid spec's job with it
// as the model; the archive's input path goes to *path.
grpc::Status SubmitWithArchive(TestCluster& cluster, const std::string& archive,
                               std::string* path) {
  v1::JobSpec spec = cluster.ValidSpec();
  const std::string sha256 = cluster.Upload("model.keras", archive);
  *path = "inputs/" + sha256 + "/model.keras";
  spec.clear_model_json();
  spec.set_job_yaml(
      absl::StrReplaceAll(spec.job_yaml(), {{"model: model.json", "model: " + *path}}));
  v1::InputFile* input = spec.add_inputs();
  input->set_path(*path);
  input->set_sha256(sha256);
  v1::Job job;
  return cluster.Submit(spec, &job);
}

TEST(ModelArchiveSubmit, AGoodArchiveIsAccepted) {
  TestCluster cluster;
  TestDir dir;
  std::string path;
  grpc::Status status = SubmitWithArchive(cluster, MlpArchiveBytes(dir), &path);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(ModelArchiveSubmit, AnUnknownLayerClassIsRefusedNamingTheInputAndMember) {
  TestCluster cluster;
  TestDir dir;
  std::map<std::string, std::string> members = Members(dir, MlpArchiveBytes(dir));
  nlohmann::json config = nlohmann::json::parse(members["config.json"]);
  config["config"]["layers"][1]["class_name"] = "FancyDense";
  members["config.json"] = config.dump();
  std::string path;
  grpc::Status status = SubmitWithArchive(cluster, ZipBytes(dir, members), &path);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              AllOf(HasSubstr("spec.inputs[1]: " + path + ": config.json"),
                    HasSubstr("unknown layer class 'FancyDense'"), Not(HasSubstr("/sha256/"))));
}

TEST(ModelArchiveSubmit, ACorruptZipIsRefused) {
  TestCluster cluster;
  TestDir dir;
  const std::string good = MlpArchiveBytes(dir);
  std::string path;
  grpc::Status status = SubmitWithArchive(cluster, good.substr(0, good.size() / 2), &path);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("spec.inputs[1]: " + path + ": not a readable .keras (zip) archive"));
}

TEST(ModelArchiveSubmit, WeightsThatDoNotFitTheConfigAreRefused) {
  TestCluster cluster;
  TestDir dir;
  std::map<std::string, std::string> members = Members(dir, MlpArchiveBytes(dir));
  nlohmann::json config = nlohmann::json::parse(members["config.json"]);
  nlohmann::json& units = config["config"]["layers"][3]["config"]["units"];
  units = units.get<int>() + 1;
  members["config.json"] = config.dump();
  std::string path;
  grpc::Status status = SubmitWithArchive(cluster, ZipBytes(dir, members), &path);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              AllOf(HasSubstr("spec.inputs[1]: " + path + ": model.weights.h5: "),
                    HasSubstr("'layers/dense_2/vars/0' (predictions/kernel): expected shape "
                              "(128, 11), received (128, 10)")));
}

}  // namespace
}  // namespace fornax::server
