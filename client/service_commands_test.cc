// The service commands against an in-process fake coordinator on loopback:
// what submit uploads and sends, what pull writes, and the exit codes.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "client/cli_util.h"
#include "client/commands.h"
#include "engine/data/sha256.h"
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
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                      v1::Job* job) override {
    if (request->job_id() != "job-7") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "job '" + request->job_id() + "' not found");
    }
    job->set_job_id("job-7");
    job->mutable_spec()->set_job_yaml("model: model.json\nfit: {epochs: 2}\n");
    job->set_last_sequence(static_cast<int64_t>(events.size()));
    return grpc::Status::OK;
  }
  // Streams `events` after after_sequence; the first stream breaks after
  // two events.
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override {
    const bool first = watches++ == 0;
    for (int64_t s = request->after_sequence(); s < static_cast<int64_t>(events.size()); ++s) {
      if (first && s == 2) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "went away");
      writer->Write(events[static_cast<size_t>(s)]);
    }
    return grpc::Status::OK;
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
  std::vector<v1::JobEvent> events;
  std::atomic<int> watches{0};
  std::string checkpoint = "PK fake keras archive bytes";
  bool corrupt = false;
};

class ServiceCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(0); }
  // On `port` (0: any free one).
  void StartServer(int port) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &port_);
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
  std::filesystem::copy_file(testing::SourceDir() + "/examples/fashion_mlp/model.json",
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
  EXPECT_EQ(testing::ReadFileOrEmpty(out), jobs_.checkpoint);
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

TEST_F(ServiceCommandsTest, LogsFollowRendersTheWholeLogAcrossADropAndExitsOneForAFailedJob) {
  auto add = [&]() -> v1::JobEvent& {
    v1::JobEvent& e = jobs_.events.emplace_back();
    e.set_job_id("job-7");
    e.set_sequence(static_cast<int64_t>(jobs_.events.size()));
    return e;
  };
  v1::StateChange* running = add().mutable_state();
  running->set_state(v1::JOB_STATE_RUNNING);
  running->set_worker_id("w-1");
  for (int64_t step = 1; step <= 2; ++step) {
    v1::StepMetrics* s = add().mutable_step();
    s->set_step(step);
    s->set_steps_per_epoch(2);
    s->set_step_seconds(0.5);
    (*s->mutable_metrics()->mutable_values())["loss"] = 1.0 / static_cast<double>(step);
  }
  (*add().mutable_epoch()->mutable_metrics()->mutable_values())["loss"] = 0.5;
  v1::StateChange* failed = add().mutable_state();
  failed->set_state(v1::JOB_STATE_FAILED);
  failed->set_reason("failed: killed by signal 9");

  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = RunLogs(address_, {"-f", "job-7"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, kExitInternal);
  EXPECT_EQ(out,
            "[running] on w-1 (attempt 0)\n"
            "Epoch 1/2\n"
            "2/2 - 1s - 500ms/step - loss: 0.5000\n"
            "[failed] killed by signal 9\n");
  EXPECT_EQ(jobs_.watches, 2);
  EXPECT_THAT(err, HasSubstr("resuming after event 2"));
  EXPECT_THAT(err, HasSubstr("fornax: error: job job-7 failed: killed by signal 9\n"));
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

// A coordinator that is restarting: `logs -f` waits for it, `logs` does not.
TEST_F(ServiceCommandsTest, LogsFollowWaitsForARestartingCoordinatorAndPlainLogsFailsFast) {
  v1::JobEvent& done = jobs_.events.emplace_back();
  done.set_job_id("job-7");
  done.set_sequence(1);
  done.mutable_state()->set_state(v1::JOB_STATE_SUCCEEDED);
  const int port = port_;
  TearDown();
  server_ = nullptr;

  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunLogs(address_, {"job-7"}), kExitInternal);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              ::testing::StartsWith("fornax: error: coordinator " + address_ + " unavailable: "));

  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    StartServer(port);
  });
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = RunLogs(address_, {"-f", "job-7"});
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  restart.join();
  ASSERT_EQ(port_, port);
  EXPECT_EQ(code, kExitOk) << err;
  EXPECT_EQ(out, "[succeeded]\n");
  EXPECT_EQ(err, "fornax: coordinator " + address_ + " unavailable; retrying\n");
}

}  // namespace
}  // namespace fornax
