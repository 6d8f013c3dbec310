// The service commands against an in-process fake coordinator on loopback:
// what submit uploads and sends, what pull writes, and the exit codes.
#include <filesystem>
#include <fstream>
#include <mutex>

#include "client/cli_util.h"
#include "client/commands.h"
#include "client/sha256.h"
#include "engine/data/test_files.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/fornax/v1/datasets.grpc.pb.h"
#include "proto/fornax/v1/jobs.grpc.pb.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

std::string Sha(const std::string& data) {
  Sha256 hash;
  hash.Update(data);
  return hash.HexDigest();
}

class FakeDatasets final : public v1::Datasets::Service {
 public:
  grpc::Status UploadDataset(grpc::ServerContext*,
                             grpc::ServerReader<v1::UploadDatasetRequest>* reader,
                             v1::Dataset* response) override {
    v1::UploadDatasetRequest request;
    if (!reader->Read(&request) || !request.has_header()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "header first");
    }
    const v1::UploadDatasetHeader header = request.header();
    std::string data;
    while (reader->Read(&request)) data += request.data();
    if (Sha(data) != header.sha256()) return grpc::Status(grpc::StatusCode::DATA_LOSS, "sha256");
    std::lock_guard<std::mutex> lock(mu);
    uploads.push_back(header.name());
    stored[header.sha256()] = data;
    response->set_sha256(header.sha256());
    response->set_name(header.name());
    response->set_size_bytes(static_cast<int64_t>(data.size()));
    return grpc::Status::OK;
  }
  grpc::Status ListDatasets(grpc::ServerContext*, const v1::ListDatasetsRequest*,
                            v1::ListDatasetsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& [sha, data] : stored) response->add_datasets()->set_sha256(sha);
    return grpc::Status::OK;
  }

  std::mutex mu;
  std::map<std::string, std::string> stored;
  std::vector<std::string> uploads;
};

class FakeJobs final : public v1::Jobs::Service {
 public:
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                         v1::Job* job) override {
    submitted = request->spec();
    job->set_job_id("job-7");
    return grpc::Status::OK;
  }
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request, v1::Job*) override {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "job '" + request->job_id() + "' not found");
  }
  grpc::Status DownloadCheckpoint(
      grpc::ServerContext*, const v1::DownloadCheckpointRequest*,
      grpc::ServerWriter<v1::DownloadCheckpointChunk>* writer) override {
    v1::DownloadCheckpointChunk chunk;
    chunk.mutable_record()->set_checkpoint_id("job-7-c3");
    chunk.mutable_record()->set_sha256(Sha(checkpoint));
    chunk.mutable_record()->set_size_bytes(static_cast<int64_t>(checkpoint.size()));
    chunk.mutable_record()->set_final(true);
    // Two chunks; the second one corrupted on request.
    chunk.set_data(checkpoint.substr(0, 4));
    writer->Write(chunk);
    v1::DownloadCheckpointChunk rest;
    rest.set_data(corrupt ? std::string(checkpoint.size() - 4, 'X') : checkpoint.substr(4));
    writer->Write(rest);
    return grpc::Status::OK;
  }

  v1::JobSpec submitted;
  std::string checkpoint = "PK fake keras archive bytes";
  bool corrupt = false;
};

class ServiceCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&datasets_);
    builder.RegisterService(&jobs_);
    server_ = builder.BuildAndStart();
    address_ = "127.0.0.1:" + std::to_string(port_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  FakeDatasets datasets_;
  FakeJobs jobs_;
  int port_ = 0;
  std::string address_;
  std::unique_ptr<grpc::Server> server_;
  testing::TempDir dir_;
};

TEST_F(ServiceCommandsTest, SubmitUploadsOnlyMissingFilesAndSendsTheRewrittenJob) {
  const char* root = std::getenv("FORNAX_SOURCE_DIR");
  std::filesystem::copy_file(
      std::string(root != nullptr ? root : ".") + "/examples/fashion_mlp/model.json",
      dir_.File("model.json"));
  std::ofstream(dir_.File("x.npy")) << "xx";
  std::ofstream(dir_.File("y.npy")) << "yy";
  std::ofstream(dir_.File("job.yaml")) << "model: model.json\ncompile: {loss: mse}\n"
                                          "data: {train: {x: x.npy, y: y.npy}}\n";
  datasets_.stored[Sha("xx")] = "xx";  // already there: not sent again

  ::testing::internal::CaptureStdout();
  const int code = RunSubmit(address_, {dir_.File("job.yaml"), "--priority", "4", "--name", "n"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, kExitOk);
  EXPECT_EQ(out, "job-7\n");
  EXPECT_THAT(datasets_.uploads, ::testing::ElementsAre("y.npy"));
  EXPECT_EQ(datasets_.stored[Sha("yy")], "yy");
  const v1::JobSpec& spec = jobs_.submitted;
  EXPECT_EQ(spec.name(), "n");
  EXPECT_EQ(spec.priority(), 4);
  EXPECT_EQ(spec.max_restarts(), 2);
  ASSERT_EQ(spec.inputs_size(), 2);
  EXPECT_EQ(spec.inputs(1).path(), "inputs/" + Sha("yy") + "/y.npy");
  EXPECT_THAT(spec.job_yaml(), HasSubstr("inputs/" + Sha("xx") + "/x.npy"));
  EXPECT_FALSE(spec.model_json().empty());
}

TEST_F(ServiceCommandsTest, SubmitOfABadJobFailsBeforeCallingTheCoordinator) {
  std::ofstream(dir_.File("job.yaml")) << "model: model.json\nfit: {epochs: -1}\n";
  EXPECT_EQ(RunSubmit(address_, {dir_.File("job.yaml")}), kExitBadInput);
  EXPECT_TRUE(jobs_.submitted.job_yaml().empty());
}

TEST_F(ServiceCommandsTest, PullWritesTheVerifiedCheckpoint) {
  const std::string out = dir_.File("sub/model.keras");
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunPull(address_, {"job-7", "-o", out}), kExitOk);
  EXPECT_THAT(::testing::internal::GetCapturedStdout(), HasSubstr("job-7-c3 (final model)"));
  std::ifstream in(out, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), jobs_.checkpoint);
}

TEST_F(ServiceCommandsTest, PullOfACorruptDownloadLeavesNoFile) {
  jobs_.corrupt = true;
  const std::string out = dir_.File("model.keras");
  EXPECT_EQ(RunPull(address_, {"job-7", "--output", out}), kExitBadInput);  // DATA_LOSS
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.File("")),
                          std::filesystem::directory_iterator()),
            0);  // no .part file either
}

TEST_F(ServiceCommandsTest, ServerRefusalsExitTwoAndAnUnreachableCoordinatorOne) {
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunGet(address_, {"job-404"}), kExitBadInput);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "fornax: error: job 'job-404' not found\n");
  TearDown();  // nobody listens there any more
  server_ = nullptr;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunGet(address_, {"job-1"}), kExitInternal);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              ::testing::StartsWith("fornax: error: coordinator " + address_ + " unavailable"));
}

}  // namespace
}  // namespace fornax
