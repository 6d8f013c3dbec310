#include "worker/job_dir.h"

#include <filesystem>
#include <string>
#include <vector>

#include "engine/data/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/test_jobs.h"

namespace fornax::worker {
namespace {

using ::testing::HasSubstr;
using testing::ReadFileOrEmpty;
using testing::TempDir;
using testing::WriteFile;

std::string Digest(const std::string& bytes) {
  Sha256 hash;
  hash.Update(bytes);
  return hash.HexDigest();
}

fornax::v1::JobSpec Spec(const std::string& path, const std::string& bytes) {
  fornax::v1::JobSpec spec;
  spec.set_job_yaml("model: model.json\n");
  spec.set_model_json("{}");
  fornax::v1::InputFile* input = spec.add_inputs();
  input->set_path(path);
  input->set_sha256(Digest(bytes));
  input->set_size_bytes(static_cast<int64_t>(bytes.size()));
  return spec;
}

TEST(JobDirTest, WritesTheJobAndLinksInputsFromTheCache) {
  TempDir dir;
  const std::string bytes = "x,y\n1,2\n";
  const fornax::v1::JobSpec spec = Spec("inputs/" + Digest(bytes) + "/data.csv", bytes);
  int fetches = 0;
  FetchFn fetch = [&](const std::string& sha, const std::string& dest) {
    ++fetches;
    EXPECT_EQ(sha, Digest(bytes));
    WriteFile(dest, bytes);
    return absl::OkStatus();
  };
  ASSERT_TRUE(MaterializeJobDir(spec, dir.File("a"), dir.File("cache"), fetch).ok());
  ASSERT_TRUE(MaterializeJobDir(spec, dir.File("b"), dir.File("cache"), fetch).ok());
  EXPECT_EQ(fetches, 1);  // the second job found it in the cache
  EXPECT_EQ(ReadFileOrEmpty(dir.File("a/job.yaml")), "model: model.json\n");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("b/model.json")), "{}");
  EXPECT_EQ(ReadFileOrEmpty(dir.File("b/" + spec.inputs(0).path())), bytes);
}

TEST(JobDirTest, CorruptDownloadIsRejectedAndNotCached) {
  TempDir dir;
  const fornax::v1::JobSpec spec =
      Spec("inputs/" + Digest("the real bytes") + "/data.csv", "the real bytes");
  FetchFn corrupt = [](const std::string&, const std::string& dest) {
    WriteFile(dest, "other bytes");
    return absl::OkStatus();
  };
  absl::Status status = MaterializeJobDir(spec, dir.File("job"), dir.File("cache"), corrupt);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(spec.inputs(0).sha256()));
  EXPECT_TRUE(std::filesystem::is_empty(dir.File("cache")));
}

TEST(JobDirTest, InputPathsMustStayInTheJobDir) {
  TempDir dir;
  FetchFn fetch = [](const std::string&, const std::string& dest) {
    WriteFile(dest, "bytes");
    return absl::OkStatus();
  };
  // Outside inputs/ the job writes: files/ (a CSVLogger's), output/, ...
  const std::string sha = Digest("bytes");
  for (const std::string& path : std::vector<std::string>{
           "../escape.csv", "/etc/passwd", "inputs/../../x", "", "inputs", "files/log.csv",
           "output/model.keras", "job.yaml", "inputs/" + sha + "/./x", "inputs/" + sha + "/a\\b",
           "inputs/" + sha + "/sub/x", "inputs/" + sha + "/", "inputs/" + Digest("other") + "/x"}) {
    absl::Status status =
        MaterializeJobDir(Spec(path, "bytes"), dir.File("job"), dir.File("cache"), fetch);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_THAT(status.message(),
                HasSubstr("spec.inputs[0].path: expected inputs/<sha256>/<name> with the input's "
                          "sha256, got '"))
        << path;
  }
  EXPECT_EQ(
      MaterializeJobDir(Spec("files/log.csv", "bytes"), dir.File("job"), dir.File("cache"), fetch)
          .message(),
      "spec.inputs[0].path: expected inputs/<sha256>/<name> with the input's sha256, got "
      "'files/log.csv' (not three parts under inputs/)");
  // '..' inside a name is not a part: the same path the coordinator takes.
  EXPECT_TRUE(MaterializeJobDir(Spec("inputs/" + sha + "/a..b.csv", "bytes"), dir.File("job"),
                                dir.File("cache"), fetch)
                  .ok());
  fornax::v1::JobSpec bad_digest = Spec("inputs/a/x", "bytes");
  bad_digest.mutable_inputs(0)->set_sha256("../../etc");
  EXPECT_EQ(MaterializeJobDir(bad_digest, dir.File("job"), dir.File("cache"), fetch).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fornax::worker
