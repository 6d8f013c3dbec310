// The worker daemon against a fake coordinator on loopback gRPC, running
// real job processes: a job reported in full and in order, checkpoints
// uploaded before the result, a resume, a disconnect that loses nothing,
// cancel within 2 s, a bad job's failure, checkpoints refused for good or
// for now, and the Prometheus endpoint.
#include "worker/worker.h"

#include <filesystem>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/fake_coordinator_test_util.h"
#include "worker/test_jobs.h"

namespace fornax::worker {
namespace {

using testing::FakeCoordinator;
using ::testing::HasSubstr;
using testing::Scrape;
using testing::TempDir;

const std::string kData = "/usr/share/datasets/fashion-mnist/";

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    coordinator_.Start();
    for (const std::string name : {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
      std::string bytes = testing::ReadFileOrEmpty(kData + name);
      Sha256 hash;
      hash.Update(bytes);
      v1::InputFile& input = inputs_.emplace_back();
      input.set_sha256(hash.HexDigest());
      input.set_size_bytes(static_cast<int64_t>(bytes.size()));
      input.set_path("inputs/" + input.sha256() + "/" + name);
      coordinator_.AddDataset(input.sha256(), std::move(bytes));
    }
    WorkerConfig config;
    config.coordinator = coordinator_.address();
    config.name = "w1";
    config.work_dir = dir_.File("work");
    config.metrics_listen = "127.0.0.1:0";
    config.capacity.set_cpus(2);
    config.capacity.set_slots(1);
    config.binary = FORNAX_WORKER_BIN;
    config.step_interval_ms = 0;
    absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Create(config);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    thread_ = std::thread([this] { worker_->Run(); });
    ASSERT_TRUE(coordinator_.WaitFor([&] { return !coordinator_.registrations.empty(); }));
  }
  void TearDown() override {
    if (worker_) worker_->Shutdown();
    if (thread_.joinable()) thread_.join();
    coordinator_.Stop();
  }

  void Assign(const std::string& job_id, int epochs, const std::string& images_path = "",
              const v1::CheckpointRecord* resume = nullptr) {
    v1::LeaseResponse message;
    v1::Assignment* a = message.mutable_assign();
    a->set_job_id(job_id);
    a->mutable_spec()->set_job_yaml(testing::JobYaml(
        epochs, "", images_path.empty() ? inputs_[0].path() : images_path, inputs_[1].path()));
    a->mutable_spec()->set_model_json(testing::ModelJson());
    for (const v1::InputFile& input : inputs_) *a->mutable_spec()->add_inputs() = input;
    if (resume != nullptr) *a->mutable_resume_from() = *resume;
    coordinator_.Send(message);
  }
  // The job's events so far (call under WaitFor's lock or after it).
  const std::map<int64_t, v1::WorkerEvent>& Events(const std::string& job) {
    return coordinator_.events[job];
  }
  bool HasResult(const std::string& job) {
    const auto& events = coordinator_.events[job];
    return !events.empty() && events.rbegin()->second.has_result();
  }
  bool HasEpoch(const std::string& job) {
    for (const auto& [seq, e] : coordinator_.events[job])
      if (e.has_epoch()) return true;
    return false;
  }
  // Sequences 1..N without gaps; RUNNING first.
  void ExpectComplete(const std::string& job) {
    const auto& events = Events(job);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.begin()->first, 1);
    EXPECT_EQ(events.rbegin()->first, static_cast<int64_t>(events.size()));
    EXPECT_EQ(events.begin()->second.state().state(), v1::JOB_STATE_RUNNING);
    EXPECT_EQ(events.begin()->second.state().worker_id(), "w1");
  }
  // How many times the job's checkpoint at `epoch` was uploaded so far.
  int Uploads(const std::string& job, int epoch) {
    int tries = 0;
    coordinator_.WaitFor([&] {
      for (const v1::UploadCheckpointHeader& h : coordinator_.checkpoint_calls) {
        tries += h.job_id() == job && h.epoch() == epoch;
      }
      return true;
    });
    return tries;
  }
  std::vector<int> EpochNumbers(const std::string& job) {
    std::vector<int> epochs;
    for (const auto& [seq, e] : Events(job))
      if (e.has_epoch()) epochs.push_back(e.epoch().epoch());
    return epochs;
  }

  TempDir dir_;
  FakeCoordinator coordinator_;
  std::vector<v1::InputFile> inputs_;
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
};

TEST_F(WorkerTest, RunsAJobReportsItInOrderAndUploadsCheckpointsBeforeTheResult) {
  Assign("j1", 2);
  size_t checkpoints_at_result = 0;
  ASSERT_TRUE(coordinator_.WaitFor([&] {
    checkpoints_at_result = coordinator_.checkpoints.size();
    return HasResult("j1");
  }));
  ExpectComplete("j1");
  EXPECT_TRUE(Events("j1").rbegin()->second.result().succeeded());
  EXPECT_THAT(EpochNumbers("j1"), ::testing::ElementsAre(0, 1));
  int steps = 0, logs = 0;
  for (const auto& [seq, e] : Events("j1")) {
    steps += e.has_step();
    logs += e.has_log();
  }
  EXPECT_EQ(steps, 16);
  EXPECT_EQ(logs, 2);  // "training epochs 1..2, ...", "traces: 1"
  ASSERT_EQ(checkpoints_at_result, 3u) << "the result came before the final model";
  EXPECT_THAT(coordinator_.checkpoints_at_epoch, ::testing::ElementsAre(1, 2))
      << "an epoch's end came before its checkpoint";
  EXPECT_EQ(coordinator_.checkpoints[1].epoch(), 2);
  EXPECT_EQ(coordinator_.checkpoints[1].global_step(), 16);
  EXPECT_TRUE(coordinator_.checkpoints[2].final());
  EXPECT_EQ(coordinator_.checkpoints[2].job_id(), "j1");
  EXPECT_EQ(coordinator_.checkpoints[2].session_id(), "s1");

  const std::string metrics = Scrape(worker_->metrics_address());
  EXPECT_THAT(metrics, HasSubstr("fornax_job_metric{job=\"j1\",metric=\"loss\"}"));
  EXPECT_THAT(metrics, HasSubstr("fornax_job_samples_per_second{job=\"j1\"}"));
  EXPECT_THAT(metrics, HasSubstr("fornax_job_retraces{job=\"j1\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("fornax_checkpoint_duration_seconds_count 3"));
  EXPECT_THAT(metrics, HasSubstr("fornax_worker_jobs_running 0"));

  // A second job resumes from j1's epoch-2 checkpoint for a third epoch.
  v1::CheckpointRecord resume;
  resume.set_checkpoint_id(coordinator_.checkpoints[1].sha256());
  resume.set_sha256(coordinator_.checkpoints[1].sha256());
  resume.set_epoch(2);
  Assign("j2", 3, "", &resume);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j2"); }));
  ExpectComplete("j2");
  EXPECT_THAT(Events("j2").begin()->second.state().reason(), HasSubstr("resumed at epoch 2"));
  EXPECT_THAT(EpochNumbers("j2"), ::testing::ElementsAre(2));
  EXPECT_TRUE(Events("j2").rbegin()->second.result().succeeded());
}

TEST_F(WorkerTest, KeepsTrainingWhileTheCoordinatorIsAwayAndLosesNoEvent) {
  constexpr int kEpochs = 25;
  Assign("j1", kEpochs);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasEpoch("j1"); }));
  coordinator_.Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // Training went on: epoch checkpoints wait on disk for their upload.
  const std::string ckpt_dir = dir_.File("work/jobs/j1-0/checkpoints");
  const auto files = std::distance(std::filesystem::directory_iterator(ckpt_dir), {});
  EXPECT_GE(files, 1);
  coordinator_.Start();
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j1"); }, 60));
  ExpectComplete("j1");
  EXPECT_TRUE(Events("j1").rbegin()->second.result().succeeded());
  std::vector<int> expected(kEpochs);
  for (int i = 0; i < kEpochs; ++i) expected[i] = i;
  EXPECT_EQ(EpochNumbers("j1"), expected);
  ASSERT_GE(coordinator_.registrations.size(), 2u);
  const v1::RegisterRequest& again = coordinator_.registrations[1];
  ASSERT_EQ(again.running_size(), 1);
  EXPECT_EQ(again.running(0).job_id(), "j1");
  EXPECT_EQ(coordinator_.checkpoints.size(), static_cast<size_t>(kEpochs + 1));
}

TEST_F(WorkerTest, CancelStopsTheJobWithinTwoSeconds) {
  Assign("j1", 1000);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasEpoch("j1"); }));
  v1::LeaseResponse cancel;
  cancel.mutable_cancel()->set_job_id("j1");
  cancel.mutable_cancel()->set_reason("user");
  const auto start = std::chrono::steady_clock::now();
  coordinator_.Send(cancel);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j1"); }, 10));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  EXPECT_TRUE(Events("j1").rbegin()->second.result().cancelled());
  ExpectComplete("j1");
}

TEST_F(WorkerTest, BadJobFailsWithItsExitCodeMessageAndLastLines) {
  Assign("j1", 1, "inputs/missing/images.gz");
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j1"); }));
  ExpectComplete("j1");
  const v1::AttemptResult& result = Events("j1").rbegin()->second.result();
  EXPECT_FALSE(result.succeeded());
  EXPECT_EQ(result.failure().exit_code(), 2);
  EXPECT_EQ(result.failure().signal(), 0);
  EXPECT_THAT(result.failure().message(), HasSubstr("inputs/missing/images.gz"));
  EXPECT_THAT(result.failure().last_log_lines(),
              ::testing::Contains(HasSubstr("fornax-worker run-job: error:")));
}

TEST_F(WorkerTest, JobWhoseReportsAreRefusedOnTwoSessionsIsStopped) {
  Assign("j1", 1000);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasEpoch("j1"); }));
  ASSERT_THAT(Scrape(worker_->metrics_address()), HasSubstr("fornax_worker_jobs_running 1"));
  ASSERT_TRUE(coordinator_.WaitFor([&] {
    coordinator_.refuse.insert("j1");
    return true;
  }));
  // The first refusal makes it register again; the second gives the job up.
  ASSERT_TRUE(coordinator_.WaitFor([&] { return coordinator_.registrations.size() >= 2; }, 10));
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = Scrape(worker_->metrics_address());
    if (metrics.find("fornax_worker_jobs_running 0") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(metrics, HasSubstr("fornax_worker_jobs_running 0"));
  EXPECT_FALSE(HasResult("j1"));
}

// The worker against a coordinator whose Register gives this
// --max-checkpoint-bytes.
template <int64_t kMaxCheckpointBytes>
class WorkerLimitTest : public WorkerTest {
 protected:
  void SetUp() override {
    coordinator_.max_checkpoint_bytes = kMaxCheckpointBytes;
    WorkerTest::SetUp();
  }
};
using SmallLimitWorkerTest = WorkerLimitTest<1000>;  // below every checkpoint
using LargeLimitWorkerTest = WorkerLimitTest<int64_t{1} << 40>;

// A refused final checkpoint turns the result the process gave (it exited
// 0) into a failure saying why. The refusal comes once the result is
// queued, so it is replaced there. Over the limit the coordinator gave at
// Register, a retry's would be refused too: the failure says so.
TEST_F(SmallLimitWorkerTest, RefusedFinalCheckpointFailsTheAttemptWithTheRefusal) {
  coordinator_.check_checkpoint = [](const v1::UploadCheckpointHeader& h) {
    if (!h.final()) return grpc::Status::OK;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the process ends meanwhile
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "more than the coordinator's --max-checkpoint-bytes 1000");
  };
  Assign("j1", 2);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j1"); }, 20));
  ExpectComplete("j1");
  const v1::AttemptResult& result = Events("j1").rbegin()->second.result();
  ASSERT_TRUE(result.has_failure()) << result.ShortDebugString();
  ASSERT_EQ(coordinator_.checkpoint_calls.size(), 3u);
  EXPECT_EQ(
      result.failure().message(),
      absl::StrCat("final checkpoint (epoch 2, ", coordinator_.checkpoint_calls[2].size_bytes(),
                   " bytes) refused by the coordinator: RESOURCE_EXHAUSTED: more than the "
                   "coordinator's --max-checkpoint-bytes 1000"));
  EXPECT_EQ(result.failure().exit_code(), 0);
  EXPECT_EQ(result.failure().signal(), 0);
  EXPECT_EQ(result.failure().not_retried_because(),
            "the coordinator refuses this checkpoint every time");
  EXPECT_EQ(result.failure().stopped_because(), "");  // it ended by itself
  EXPECT_EQ(coordinator_.checkpoints.size(), 2u);     // the epochs' ones
}

// RESOURCE_EXHAUSTED for a checkpoint within the coordinator's limit (its
// server out of threads for a moment) is tried again: a passing one costs
// nothing, and one that lasts fails the attempt after 50 tries, leaving the
// job's retry to the coordinator.
TEST_F(LargeLimitWorkerTest, ResourceExhaustedWithinTheLimitIsTriedAgain) {
  auto calls = std::make_shared<int>(0);  // the hook may outlive the test's body
  coordinator_.check_checkpoint = [calls](const v1::UploadCheckpointHeader& h) {
    if (h.job_id() == "j2" || (h.job_id() == "j1" && ++*calls <= 3)) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "Server Threadpool Exhausted");
    }
    return grpc::Status::OK;
  };
  Assign("j1", 2);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j1"); }, 20));
  EXPECT_TRUE(Events("j1").rbegin()->second.result().succeeded());
  EXPECT_EQ(Uploads("j1", 1), 4);

  Assign("j2", 1000);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j2"); }, 60));
  const v1::AttemptResult& result = Events("j2").rbegin()->second.result();
  ASSERT_TRUE(result.has_failure()) << result.ShortDebugString();
  EXPECT_THAT(result.failure().message(), HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_EQ(result.failure().not_retried_because(), "");
  EXPECT_EQ(Uploads("j2", 1), 50);
}

// DATA_LOSS and RESOURCE_EXHAUSTED within the limit each have their own
// tries: a checkpoint refused for want of server threads first still gets
// its 3 tries against a file that changed while it was read.
TEST_F(LargeLimitWorkerTest, DataLossAfterResourceExhaustedStillGetsItsTries) {
  auto calls = std::make_shared<int>(0);  // the hook may outlive the test's body
  coordinator_.check_checkpoint = [calls](const v1::UploadCheckpointHeader& h) {
    if (h.job_id() != "j1") return grpc::Status::OK;
    ++*calls;
    if (*calls <= 3) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "Server Threadpool Exhausted");
    }
    if (*calls <= 5) return grpc::Status(grpc::StatusCode::DATA_LOSS, "sha256 mismatch");
    return grpc::Status::OK;
  };
  Assign("j1", 2);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j1"); }, 20));
  EXPECT_TRUE(Events("j1").rbegin()->second.result().succeeded())
      << Events("j1").rbegin()->second.ShortDebugString();
  EXPECT_EQ(Uploads("j1", 1), 6);
}

// A refused epoch checkpoint is not retried: the job process is stopped
// and the attempt fails with the refusal.
TEST_F(WorkerTest, RefusedCheckpointStopsTheJobAndIsNotRetried) {
  coordinator_.check_checkpoint = [](const v1::UploadCheckpointHeader&) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "epoch: not what we expect");
  };
  Assign("j1", 1000);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j1"); }, 10));
  ExpectComplete("j1");
  const v1::AttemptResult& result = Events("j1").rbegin()->second.result();
  ASSERT_TRUE(result.has_failure()) << result.ShortDebugString();
  EXPECT_THAT(result.failure().message(),
              ::testing::MatchesRegex("checkpoint \\(epoch 1, [0-9]+ bytes\\) refused by the "
                                      "coordinator: INVALID_ARGUMENT: epoch: not what we expect; "
                                      "the worker stopped the job"));
  // Stopped long before its 1000 epochs. Not "within a few": the job
  // trains on while the refusal reaches the worker, and under load (3 CPU
  // hogs on 2 cores) it got to epoch 6.
  EXPECT_LT(result.failure().epoch(), 100);
  EXPECT_EQ(result.failure().not_retried_because(), "");  // not known to recur
  EXPECT_EQ(result.failure().stopped_because(), "the coordinator refused its checkpoint");
  EXPECT_EQ(Uploads("j1", 1), 1);
  EXPECT_TRUE(coordinator_.checkpoints.empty());
}

// UNAVAILABLE is retried as long as it lasts, DATA_LOSS (a file that
// changed while read) up to 3 times in all for one checkpoint.
TEST_F(WorkerTest, TransientRefusalsAreRetriedAndDataLossThreeTimes) {
  // The worker uploads one checkpoint at a time; the hook may outlive the
  // test's body.
  auto calls = std::make_shared<int>(0);
  coordinator_.check_checkpoint = [calls](const v1::UploadCheckpointHeader& h) {
    if (h.job_id() == "j1" && ++*calls <= 4) {
      return grpc::Status(*calls % 2 ? grpc::StatusCode::UNAVAILABLE : grpc::StatusCode::DATA_LOSS,
                          "try again");
    }
    if (h.job_id() == "j2") return grpc::Status(grpc::StatusCode::DATA_LOSS, "sha256 mismatch");
    return grpc::Status::OK;
  };
  Assign("j1", 2);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j1"); }, 20));
  EXPECT_TRUE(Events("j1").rbegin()->second.result().succeeded());
  EXPECT_EQ(coordinator_.checkpoints.size(), 3u);
  EXPECT_EQ(Uploads("j1", 1), 5);

  Assign("j2", 1000);
  ASSERT_TRUE(coordinator_.WaitFor([&] { return HasResult("j2"); }, 20));
  const v1::AttemptResult& result = Events("j2").rbegin()->second.result();
  EXPECT_THAT(result.failure().message(), HasSubstr("DATA_LOSS: sha256 mismatch"));
  EXPECT_EQ(Uploads("j2", 1), 3);
}

}  // namespace
}  // namespace fornax::worker
