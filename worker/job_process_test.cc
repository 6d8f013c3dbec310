#include "worker/job_process.h"

#include <signal.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/archive/keras_archive.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/test_jobs.h"

namespace fornax::worker {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteJobDir;

struct ChildRun {
  std::vector<ChildMessage> events;
  std::vector<std::pair<std::string, std::string>> logs;  // line, stream
  ProcessExit exit;
};

JobProcessOptions Options(const std::string& dir) {
  JobProcessOptions options;
  options.binary = FORNAX_WORKER_BIN;
  options.job_dir = dir;
  options.step_interval_ms = 0;
  return options;
}

JobProcessHandlers Record(ChildRun* run, std::mutex* mu) {
  JobProcessHandlers h;
  h.on_event = [run, mu](const ChildMessage& m) {
    std::lock_guard<std::mutex> lock(*mu);
    run->events.push_back(m);
  };
  h.on_log = [run, mu](const std::string& line, const std::string& stream) {
    std::lock_guard<std::mutex> lock(*mu);
    run->logs.emplace_back(line, stream);
  };
  return h;
}

ChildRun RunToEnd(const JobProcessOptions& options) {
  ChildRun run;
  std::mutex mu;
  absl::StatusOr<std::unique_ptr<JobProcess>> p = JobProcess::Start(options, Record(&run, &mu));
  EXPECT_TRUE(p.ok()) << p.status();
  if (p.ok()) run.exit = (*p)->Wait();
  return run;
}

std::vector<std::string> Lines(const ChildRun& run) {
  std::vector<std::string> lines;
  for (const auto& [line, stream] : run.logs) lines.push_back(line);
  return lines;
}

TEST(JobProcessTest, ReportsStepsEpochsCheckpointsAndTheFinalModel) {
  TempDir dir;
  WriteJobDir(dir.File("job"), 2);
  ChildRun run = RunToEnd(Options(dir.File("job")));
  EXPECT_EQ(run.exit.exit_code, 0) << ::testing::PrintToString(Lines(run));
  int steps = 0, epochs = 0;
  std::vector<ChildCheckpoint> checkpoints;
  for (const ChildMessage& m : run.events) {
    if (m.step) ++steps;
    if (m.epoch) {
      EXPECT_EQ(m.epoch->epoch(), epochs++);
      EXPECT_TRUE(m.epoch->metrics().values().count("loss"));
    }
    if (m.checkpoint) checkpoints.push_back(*m.checkpoint);
  }
  EXPECT_EQ(steps, 16);
  EXPECT_EQ(epochs, 2);
  ASSERT_EQ(checkpoints.size(), 3u);
  EXPECT_EQ(checkpoints[0].record.epoch(), 1);
  EXPECT_EQ(checkpoints[0].record.global_step(), 8);
  EXPECT_FALSE(checkpoints[1].record.final());
  EXPECT_TRUE(checkpoints[2].record.final());
  EXPECT_EQ(checkpoints[2].path, dir.File("job/output/model.keras"));
  EXPECT_GT(checkpoints[2].record.size_bytes(), 0);
  EXPECT_THAT(Lines(run), Contains(HasSubstr("training epochs 1..2, batch size 64")));
}

// Acceptance 2 of M1-3 through the job process: 2 epochs, then a resume
// from the epoch-2 checkpoint for 1 more, equals 3 epochs straight.
TEST(JobProcessTest, ResumeFromCheckpointIsBitIdenticalToAnUninterruptedRun) {
  TempDir dir;
  WriteJobDir(dir.File("straight"), 3);
  WriteJobDir(dir.File("first"), 2);
  WriteJobDir(dir.File("resumed"), 3);
  ASSERT_EQ(RunToEnd(Options(dir.File("straight"))).exit.exit_code, 0);
  ASSERT_EQ(RunToEnd(Options(dir.File("first"))).exit.exit_code, 0);
  JobProcessOptions resume = Options(dir.File("resumed"));
  resume.resume_path = dir.File("first/checkpoints/ckpt-e2-s16.keras");
  resume.initial_epoch = 2;
  ChildRun resumed = RunToEnd(resume);
  ASSERT_EQ(resumed.exit.exit_code, 0) << ::testing::PrintToString(Lines(resumed));
  int epochs = 0;
  for (const ChildMessage& m : resumed.events) epochs += m.epoch ? 1 : 0;
  EXPECT_EQ(epochs, 1);

  absl::StatusOr<std::unique_ptr<Trainer>> a =
      LoadKerasArchive(dir.File("straight/output/model.keras"), 0);
  absl::StatusOr<std::unique_ptr<Trainer>> b =
      LoadKerasArchive(dir.File("resumed/output/model.keras"), 0);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*a)->iterations(), 24);
  EXPECT_EQ((*b)->iterations(), 24);
  ASSERT_EQ((*a)->variables().size(), (*b)->variables().size());
  for (int64_t i = 0; i < (*a)->variables().size(); ++i) {
    EXPECT_TRUE((*a)->variables().value(i).BitwiseEquals((*b)->variables().value(i)))
        << (*a)->variables().info(i).path;
  }
}

TEST(JobProcessTest, BadJobExitsWithTheEnginesError) {
  TempDir dir;
  WriteJobDir(dir.File("job"), 1);
  testing::WriteFile(dir.File("job/job.yaml"),
                     testing::JobYaml(1, "/usr/share/datasets/fashion-mnist/", "nope.gz"));
  ChildRun run = RunToEnd(Options(dir.File("job")));
  EXPECT_EQ(run.exit.exit_code, 2);
  EXPECT_EQ(run.exit.signal, 0);
  ASSERT_FALSE(run.events.empty());
  ASSERT_TRUE(run.events.back().error);
  EXPECT_THAT(*run.events.back().error, HasSubstr("nope.gz"));
  EXPECT_THAT(Lines(run), Contains(HasSubstr("fornax-worker run-job: error:")));
}

// A long job (many epochs) that Terminate or an outside kill stops mid-run.
class LongJobTest : public ::testing::Test {
 protected:
  void StartLongJob() {
    WriteJobDir(dir_.File("job"), 1000);
    absl::StatusOr<std::unique_ptr<JobProcess>> p =
        JobProcess::Start(Options(dir_.File("job")), Record(&run_, &mu_));
    ASSERT_TRUE(p.ok()) << p.status();
    process_ = *std::move(p);
    waiter_ = std::thread([this] { run_.exit = process_->Wait(); });
    // Until the first epoch ended: training is under way.
    for (int i = 0; i < 600; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const ChildMessage& m : run_.events)
          if (m.epoch) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "no epoch within 30 s";
  }
  void TearDown() override {
    if (waiter_.joinable()) {
      process_->Kill();
      waiter_.join();
    }
  }
  TempDir dir_;
  std::mutex mu_;
  ChildRun run_;
  std::unique_ptr<JobProcess> process_;
  std::thread waiter_;
};

TEST_F(LongJobTest, TerminateStopsItWithinTwoSeconds) {
  StartLongJob();
  const auto start = std::chrono::steady_clock::now();
  process_->Terminate();
  waiter_.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0);
  EXPECT_EQ(run_.exit.exit_code, -1);
  EXPECT_EQ(run_.exit.signal, SIGTERM);
}

TEST_F(LongJobTest, KilledProcessReportsTheSignalAndItsLastLines) {
  StartLongJob();
  ::kill(process_->pid(), SIGKILL);
  waiter_.join();
  EXPECT_EQ(run_.exit.exit_code, -1);
  EXPECT_EQ(run_.exit.signal, SIGKILL);
  EXPECT_THAT(Lines(run_), Contains(HasSubstr("training epochs 1..1000")));
}

}  // namespace
}  // namespace fornax::worker
