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

// The straight and the resumed run ended with the same model: 24 steps
// (3 epochs of 8) and bit-identical variables.
void ExpectSameFinalModel(const TempDir& dir) {
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

  ExpectSameFinalModel(dir);
}

// The same through the job process with a mid-epoch checkpoint: a job that
// checkpoints every 3 steps is killed (SIGKILL, a lost machine) once it
// reported the checkpoint at step 4 of epoch 2 (global step 12); resumed
// from it, it trains that epoch's last 4 steps and the third epoch, and ends
// bit-identical to 3 epochs straight with the same epoch metrics.
TEST(JobProcessTest, ResumeFromMidEpochCheckpointIsBitIdenticalToAnUninterruptedRun) {
  TempDir dir;
  WriteJobDir(dir.File("straight"), 3);
  // Long enough that the kill always comes before its end; the epoch count
  // changes no epoch's batches.
  WriteJobDir(dir.File("first"), 1000);
  WriteJobDir(dir.File("resumed"), 3);
  ChildRun straight = RunToEnd(Options(dir.File("straight")));
  ASSERT_EQ(straight.exit.exit_code, 0) << ::testing::PrintToString(Lines(straight));

  ChildRun first;
  std::mutex mu;
  JobProcessOptions first_options = Options(dir.File("first"));
  first_options.checkpoint_every_steps = 3;
  JobProcessHandlers handlers = Record(&first, &mu);
  JobProcess* process = nullptr;
  handlers.on_event = [&](const ChildMessage& m) {
    std::lock_guard<std::mutex> lock(mu);
    first.events.push_back(m);
    if (m.checkpoint && m.checkpoint->record.global_step() == 12) process->Kill();
  };
  absl::StatusOr<std::unique_ptr<JobProcess>> p = JobProcess::Start(first_options, handlers);
  ASSERT_TRUE(p.ok()) << p.status();
  process = p->get();
  first.exit = process->Wait();
  ASSERT_EQ(first.exit.signal, SIGKILL) << ::testing::PrintToString(Lines(first));

  JobProcessOptions resume = Options(dir.File("resumed"));
  resume.resume_path = dir.File("first/checkpoints/ckpt-e1-s12.keras");
  resume.initial_epoch = 1;
  resume.checkpoint_every_steps = 3;
  ChildRun resumed = RunToEnd(resume);
  ASSERT_EQ(resumed.exit.exit_code, 0) << ::testing::PrintToString(Lines(resumed));
  std::vector<fornax::v1::StepMetrics> steps;
  std::vector<fornax::v1::EpochMetrics> epochs, straight_epochs;
  for (const ChildMessage& m : resumed.events) {
    if (m.step) steps.push_back(*m.step);
    if (m.epoch) epochs.push_back(*m.epoch);
  }
  for (const ChildMessage& m : straight.events) {
    if (m.epoch) straight_epochs.push_back(*m.epoch);
  }
  ASSERT_EQ(steps.size(), 12u);  // epoch 2's steps 5-8, epoch 3's 1-8
  EXPECT_EQ(steps[0].epoch(), 1);
  EXPECT_EQ(steps[0].step(), 5);
  EXPECT_EQ(steps[0].global_step(), 13);
  ASSERT_EQ(epochs.size(), 2u);
  ASSERT_EQ(straight_epochs.size(), 3u);
  for (size_t i = 0; i < epochs.size(); ++i) {
    EXPECT_EQ(epochs[i].epoch(), straight_epochs[i + 1].epoch());
    const auto& want = straight_epochs[i + 1].metrics().values();
    const auto& got = epochs[i].metrics().values();
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [name, value] : want) {
      ASSERT_TRUE(got.count(name)) << name;
      EXPECT_EQ(got.at(name), value) << "epoch " << epochs[i].epoch() << " " << name;
    }
  }

  ExpectSameFinalModel(dir);
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
