#include "engine/job/job_runner.h"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/archive/keras_archive.h"
#include "engine/data/file_util.h"
#include "engine/data/test_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 512 Fashion-MNIST samples, batch 64 (8 steps per epoch), the example MLP.
std::string JobYaml(int epochs, const std::string& extra_fit = "",
                    int64_t steps_per_execution = 1) {
  const std::string data = "/usr/share/datasets/fashion-mnist/";
  return "model: " + testing::SourceDir() + "/examples/fashion_mlp/model.json\n" +
         "compile:\n"
         "  optimizer: {class_name: Adam, config: {learning_rate: 0.001}}\n"
         "  loss: sparse_categorical_crossentropy\n"
         "  metrics: [accuracy]\n"
         "  steps_per_execution: " +
         std::to_string(steps_per_execution) +
         "\n"
         "fit: {epochs: " +
         std::to_string(epochs) + ", batch_size: 64, seed: 5" + extra_fit +
         "}\n"
         "data:\n"
         "  train:\n"
         "    limit: 512\n"
         "    x: {path: " +
         data + "train-images-idx3-ubyte.gz, dtype: float32, scale: 0.00392156862745098, " +
         "reshape: [784]}\n"
         "    y: " +
         data + "train-labels-idx1-ubyte.gz\n";
}

JobSpec Job(const std::string& yaml) {
  absl::StatusOr<JobSpec> job = ParseJobYaml(yaml, "job.yaml", "/");
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? *job : JobSpec();
}

// Checkpoints into dir/ckpt at each epoch's end and, when every_steps > 0,
// every that many steps.
JobRunOptions CheckpointInto(const testing::TempDir& dir, int64_t every_steps = 0) {
  JobRunOptions options;
  options.checkpoint_dir = dir.File("ckpt");
  options.checkpoint_every_steps = every_steps;
  return options;
}

// Resumes from dir/ckpt/`name` (written with CheckpointInto) at initial_epoch.
JobRunOptions ResumeFrom(const testing::TempDir& dir, const std::string& name, int initial_epoch) {
  JobRunOptions options;
  options.resume_path = dir.File("ckpt/" + name);
  options.initial_epoch = initial_epoch;
  return options;
}

class Recorder : public JobObserver {
 public:
  void OnStep(const StepEvent& e) override { steps.push_back(e); }
  void OnEpoch(const EpochEvent& e) override {
    epochs.push_back(e);
    checkpoints_at_epoch_end.push_back(checkpoints.size());
  }
  absl::Status OnCheckpoint(const CheckpointEvent& e) override {
    checkpoints.push_back(e);
    return absl::OkStatus();
  }
  std::vector<size_t> checkpoints_at_epoch_end;
  std::vector<StepEvent> steps;
  std::vector<EpochEvent> epochs;
  std::vector<CheckpointEvent> checkpoints;
};

TEST(JobRunnerTest, ReportsStepsEpochsAndCheckpoints) {
  testing::TempDir dir;
  JobRunOptions options;
  options.checkpoint_dir = dir.File("ckpt");
  options.checkpoint_every_steps = 3;
  absl::StatusOr<std::unique_ptr<JobRunner>> runner = JobRunner::Create(Job(JobYaml(2)), options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  Recorder rec;
  ASSERT_TRUE((*runner)->Fit({}, &rec).ok());

  ASSERT_EQ(rec.steps.size(), 16u);
  EXPECT_EQ(rec.steps[9].epoch, 1);
  EXPECT_EQ(rec.steps[9].step, 2);
  EXPECT_EQ(rec.steps[9].steps_per_epoch, 8);
  EXPECT_EQ(rec.steps[9].global_step, 10);
  EXPECT_TRUE(rec.steps[9].logs.count("loss"));
  EXPECT_GT(rec.steps[9].samples_per_second, 0);
  ASSERT_EQ(rec.epochs.size(), 2u);
  EXPECT_EQ(rec.epochs[1].epochs, 2);
  EXPECT_TRUE(rec.epochs[1].logs.count("accuracy"));
  EXPECT_EQ(rec.epochs[1].retraces, 1);

  // Every 3 steps within an epoch, and at each epoch's end.
  std::vector<int64_t> steps;
  for (const CheckpointEvent& c : rec.checkpoints) {
    steps.push_back(c.global_step);
    EXPECT_TRUE(std::filesystem::exists(c.path)) << c.path;
    EXPECT_GT(c.size_bytes, 0);
    EXPECT_FALSE(c.final);
  }
  EXPECT_THAT(steps, ElementsAre(3, 6, 8, 9, 12, 15, 16));
  EXPECT_EQ(rec.checkpoints[2].epoch, 1);
  EXPECT_EQ(rec.checkpoints[3].epoch, 1);  // mid-epoch 1: one epoch done
  EXPECT_EQ(rec.checkpoints[6].epoch, 2);
  EXPECT_THAT(rec.checkpoints[6].path, HasSubstr("ckpt-e2-s16.keras"));
  EXPECT_TRUE(rec.checkpoints[6].logs.count("accuracy"));  // epoch 2's
  // Each epoch's checkpoint is reported before the epoch's end.
  EXPECT_THAT(rec.checkpoints_at_epoch_end, ElementsAre(3, 7));

  ASSERT_TRUE((*runner)->SaveModel(dir.File("final.keras"), &rec).ok());
  EXPECT_TRUE(rec.checkpoints.back().final);
  EXPECT_EQ(rec.checkpoints.back().epoch, 2);
  EXPECT_EQ(rec.checkpoints.back().global_step, 16);
}

TEST(JobRunnerTest, ResumeFromEpochCheckpointIsBitIdentical) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<JobRunner>> straight = JobRunner::Create(Job(JobYaml(3)), {});
  ASSERT_TRUE(straight.ok()) << straight.status();
  ASSERT_TRUE((*straight)->Fit({}, nullptr).ok());

  absl::StatusOr<std::unique_ptr<JobRunner>> first =
      JobRunner::Create(Job(JobYaml(2)), CheckpointInto(dir));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->Fit({}, nullptr).ok());

  absl::StatusOr<std::unique_ptr<JobRunner>> resumed =
      JobRunner::Create(Job(JobYaml(3)), ResumeFrom(dir, "ckpt-e2-s16.keras", 2));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  Recorder rec;
  ASSERT_TRUE((*resumed)->Fit({}, &rec).ok());
  ASSERT_EQ(rec.epochs.size(), 1u);
  EXPECT_EQ(rec.epochs[0].epoch, 2);
  EXPECT_EQ(rec.steps.front().global_step, 17);

  VariableStore& a = (*straight)->trainer().variables();
  VariableStore& b = (*resumed)->trainer().variables();
  ASSERT_EQ(a.size(), b.size());
  for (int64_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(a.value(i).BitwiseEquals(b.value(i))) << a.info(i).path;
  }
  EXPECT_EQ((*straight)->trainer().iterations(), (*resumed)->trainer().iterations());
}

// Stops training (as a lost machine would) once the checkpoint at
// `global_step` has been written.
class StopAfterCheckpoint : public JobObserver {
 public:
  explicit StopAfterCheckpoint(int64_t global_step) : global_step_(global_step) {}
  absl::Status OnCheckpoint(const CheckpointEvent& e) override {
    if (e.global_step < global_step_) return absl::OkStatus();
    return absl::AbortedError("interrupted");
  }

 private:
  int64_t global_step_;
};

// Weights, optimizer state and, with `metrics`, the metric variables.
void ExpectSameVariables(JobRunner& a, JobRunner& b, bool metrics = true) {
  VariableStore& x = a.trainer().variables();
  VariableStore& y = b.trainer().variables();
  ASSERT_EQ(x.size(), y.size());
  for (int64_t i = 0; i < x.size(); ++i) {
    if (!metrics && x.info(i).kind == VariableKind::kMetric) continue;
    EXPECT_TRUE(x.value(i).BitwiseEquals(y.value(i))) << x.info(i).path;
  }
}

// A run interrupted after the checkpoint at step 4 of epoch 2 (global step
// 12) and resumed from it skips that epoch's first 4 batches, continues its
// metrics, and ends bit-identical to 3 epochs straight, for any
// steps_per_execution (its executions end on the checkpoint's step).
TEST(JobRunnerTest, ResumeFromMidEpochCheckpointIsBitIdentical) {
  for (int64_t spe : {1, 2}) {
    SCOPED_TRACE(::testing::Message() << "steps_per_execution " << spe);
    testing::TempDir dir;
    absl::StatusOr<std::unique_ptr<JobRunner>> straight =
        JobRunner::Create(Job(JobYaml(3, "", spe)), {});
    ASSERT_TRUE(straight.ok()) << straight.status();
    Recorder straight_rec;
    ASSERT_TRUE((*straight)->Fit({}, &straight_rec).ok());

    absl::StatusOr<std::unique_ptr<JobRunner>> first =
        JobRunner::Create(Job(JobYaml(3, "", spe)), CheckpointInto(dir, 3));
    ASSERT_TRUE(first.ok()) << first.status();
    StopAfterCheckpoint stop(12);
    ASSERT_EQ((*first)->Fit({}, &stop).status().code(), absl::StatusCode::kAborted);
    EXPECT_EQ((*first)->trainer().iterations(), 12);

    absl::StatusOr<std::unique_ptr<JobRunner>> resumed =
        JobRunner::Create(Job(JobYaml(3, "", spe)), ResumeFrom(dir, "ckpt-e1-s12.keras", 1));
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    Recorder rec;
    ASSERT_TRUE((*resumed)->Fit({}, &rec).ok());
    ASSERT_FALSE(rec.steps.empty());
    EXPECT_EQ(rec.steps.front().epoch, 1);
    EXPECT_EQ(rec.steps.front().step, 4 + spe);
    EXPECT_EQ(rec.steps.front().global_step, 12 + spe);
    // The resumed epoch's logs cover all 8 of its steps, as straight.
    ASSERT_EQ(rec.epochs.size(), 2u);
    ASSERT_EQ(straight_rec.epochs.size(), 3u);
    EXPECT_EQ(rec.epochs[0].epoch, 1);
    EXPECT_EQ(rec.epochs[0].logs, straight_rec.epochs[1].logs);
    EXPECT_EQ(rec.epochs[1].logs, straight_rec.epochs[2].logs);

    ExpectSameVariables(**straight, **resumed);
    EXPECT_EQ((*resumed)->trainer().iterations(), 24);
  }
}

// EarlyStopping (min_delta 0.05, patience 2, restore_best_weights) and
// ReduceLROnPlateau (min_delta 0.03, patience 1, factor 0.5) on the loss:
// straight, the rate halves after epochs 7, 10 and 12, and training stops
// after epoch 12 (waited since epoch 10, the best, whose weights it restores).
const char kPlateauCallbacks[] =
    ", callbacks: ["
    "{class_name: EarlyStopping, config: {monitor: loss, min_delta: 0.05, patience: 2, "
    "restore_best_weights: true}}, "
    "{class_name: ReduceLROnPlateau, config: {monitor: loss, factor: 0.5, patience: 1, "
    "min_delta: 0.03}}]";

// Interrupted after the checkpoint at step 3 of epoch 12 (EarlyStopping has
// waited 1 epoch of 2, the rate was reduced twice) or after epoch 12's own
// (training had stopped), the resumed run has the same epoch logs (the
// rate's schedule), stops after the same epoch and ends bit-identical: best
// weights restored, optimizer state, rate. Without the callbacks' state it
// would not stop (its patience and best value start afresh) or would train
// on past the stop.
TEST(JobRunnerTest, ResumedCallbacksStopAndReduceTheRateAtTheSameEpochs) {
  const JobSpec job = Job(JobYaml(20, kPlateauCallbacks));
  absl::StatusOr<std::unique_ptr<JobRunner>> straight = JobRunner::Create(job, {});
  ASSERT_TRUE(straight.ok()) << straight.status();
  Recorder straight_rec;
  ASSERT_TRUE((*straight)->Fit({}, &straight_rec).ok());
  ASSERT_EQ(straight_rec.epochs.size(), 13u);
  std::vector<float> rates;  // the optimizer's float32 variable
  for (const EpochEvent& e : straight_rec.epochs) {
    rates.push_back(static_cast<float>(e.logs.at("learning_rate")));
  }
  EXPECT_THAT(rates, ElementsAre(1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f, 1e-3f, 5e-4f,
                                 5e-4f, 5e-4f, 2.5e-4f, 2.5e-4f));
  EXPECT_FLOAT_EQ((*straight)->trainer().learning_rate(), 1.25e-4f);

  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<JobRunner>> first = JobRunner::Create(job, CheckpointInto(dir, 3));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->Fit({}, nullptr).ok());
  ExpectSameVariables(**straight, **first);  // checkpoints change nothing

  struct Resume {
    const char* checkpoint;
    int initial_epoch;
    size_t epochs_run;
  } resumes[] = {{"ckpt-e12-s99.keras", 12, 1}, {"ckpt-e13-s104.keras", 13, 0}};
  for (const Resume& r : resumes) {
    SCOPED_TRACE(r.checkpoint);
    absl::StatusOr<std::unique_ptr<JobRunner>> resumed =
        JobRunner::Create(job, ResumeFrom(dir, r.checkpoint, r.initial_epoch));
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    Recorder rec;
    ASSERT_TRUE((*resumed)->Fit({}, &rec).ok());
    ASSERT_EQ(rec.epochs.size(), r.epochs_run);
    if (r.epochs_run == 1) {
      EXPECT_EQ(rec.epochs[0].logs, straight_rec.epochs[12].logs);
    }
    EXPECT_EQ((*resumed)->trainer().iterations(), 104);
    // With no epoch run, the metric variables hold no epoch's sums.
    ExpectSameVariables(**straight, **resumed, /*metrics=*/r.epochs_run > 0);
  }
}

// A malformed callback state in the archive is an error naming the field; a
// job callback of another class than the checkpoint's starts afresh.
TEST(JobRunnerTest, ResumedCallbackStateIsCheckedAndMatchedByClass) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<JobRunner>> first =
      JobRunner::Create(Job(JobYaml(1, kPlateauCallbacks)), {});
  ASSERT_TRUE(first.ok()) << first.status();
  const nlohmann::json position = {{"epoch", 1},
                                   {"step", 0},
                                   {"steps_per_epoch", 8},
                                   {"callbacks",
                                    {{{"class_name", "EarlyStopping"}, {"state", {{"wait", "2"}}}},
                                     {{"class_name", "TerminateOnNaN"}, {"state", nullptr}}}}};
  const std::string archive = dir.File("bad.keras");
  ASSERT_TRUE(SaveKerasArchive(archive, (*first)->trainer(), position).ok());

  JobRunOptions options;
  options.resume_path = archive;
  options.initial_epoch = 1;
  absl::StatusOr<std::unique_ptr<JobRunner>> resumed =
      JobRunner::Create(Job(JobYaml(3, kPlateauCallbacks)), options);
  EXPECT_EQ(resumed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(resumed.status().message(),
              HasSubstr("bad.keras: metadata.json: fornax.callbacks[0].state (EarlyStopping): "
                        "wait: expected an integer in [0, 2^30]"));
  // Another class at index 0 (and none at 1): both start afresh.
  resumed = JobRunner::Create(
      Job(JobYaml(3,
                  ", callbacks: [{class_name: ReduceLROnPlateau, config: {monitor: loss}}, "
                  "{class_name: EarlyStopping, config: {monitor: loss}}]")),
      options);
  EXPECT_TRUE(resumed.ok()) << resumed.status();
}

// A checkpoint keys each job callback's state by its class, whichever form
// the job file wrote the entry in (Keras's, the short form, a bare name).
TEST(JobRunnerTest, CheckpointKeysCallbackStatesByClass) {
  testing::TempDir dir;
  const std::string callbacks =
      ", callbacks: [{class_name: EarlyStopping, config: {monitor: loss}}, TerminateOnNaN, "
      "{ReduceLROnPlateau: {monitor: loss}}, {CSVLogger: {filename: " +
      dir.File("log.csv") + "}}, {ModelCheckpoint: {filepath: " + dir.File("best.keras") +
      ", monitor: loss, save_best_only: true}}]";
  absl::StatusOr<std::unique_ptr<JobRunner>> runner =
      JobRunner::Create(Job(JobYaml(1, callbacks)), CheckpointInto(dir));
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Fit({}, nullptr).ok());
  absl::StatusOr<KerasArchive> archive = ReadKerasArchive(dir.File("ckpt/ckpt-e1-s8.keras"));
  ASSERT_TRUE(archive.ok()) << archive.status();
  std::vector<std::string> classes;
  for (const nlohmann::json& entry : archive->fornax_state["callbacks"]) {
    classes.push_back(entry["class_name"].get<std::string>());
  }
  EXPECT_THAT(classes, ElementsAre("EarlyStopping", "TerminateOnNaN", "ReduceLROnPlateau",
                                   "CSVLogger", "ModelCheckpoint"));
}

// CSVLogger's file after a resume equals a straight run's, byte for byte:
// the first attempt wrote rows for epochs 0 and 1 and was interrupted in
// epoch 2 (after the checkpoint at global step 18), and the job resumes from
// the checkpoint at step 4 of epoch 1 (global step 12; a later one's upload
// was lost), so epoch 1 trains again. The file is still there (the same
// machine) or gone (another one); with append, it began with an older run's
// rows, which the straight run keeps too (and which another machine lacks:
// its file is then the job's header and rows alone). Without the rows in the
// checkpoint, the resumed file lost epoch 0's row or repeated epoch 1's.
TEST(JobRunnerTest, ResumedCsvLoggerFileEqualsAStraightRunsFile) {
  const std::string older = "epoch,loss\r\n0,9.0\r\n";
  auto csv_job = [](const std::string& path, bool append) {
    return Job(JobYaml(3, ", callbacks: [{CSVLogger: {filename: " + path +
                              ", append: " + (append ? "true" : "false") + "}}]"));
  };
  std::string straight[2];  // without, with append and the older rows
  for (bool append : {false, true}) {
    testing::TempDir dir;  // one at a time: a TempDir is named after the test
    const std::string path = dir.File("log.csv");
    if (append) {
      ASSERT_TRUE(WriteStringToFile(path, older).ok());
    }
    absl::StatusOr<std::unique_ptr<JobRunner>> runner =
        JobRunner::Create(csv_job(path, append), {});
    ASSERT_TRUE(runner.ok()) << runner.status();
    ASSERT_TRUE((*runner)->Fit({}, nullptr).ok());
    straight[append] = testing::ReadFileOrEmpty(path);
  }
  ASSERT_EQ(std::count(straight[0].begin(), straight[0].end(), '\n'), 4);  // header, 3 epochs
  ASSERT_EQ(straight[1], older + straight[0].substr(straight[0].find('\n') + 1));

  for (bool append : {false, true}) {
    for (bool same_machine : {true, false}) {
      SCOPED_TRACE(::testing::Message()
                   << "append " << append << ", same machine " << same_machine);
      testing::TempDir dir;
      const std::string path = dir.File("log.csv");
      if (append) {
        ASSERT_TRUE(WriteStringToFile(path, older).ok());
      }
      absl::StatusOr<std::unique_ptr<JobRunner>> first =
          JobRunner::Create(csv_job(path, append), CheckpointInto(dir, 3));
      ASSERT_TRUE(first.ok()) << first.status();
      StopAfterCheckpoint stop(18);
      ASSERT_EQ((*first)->Fit({}, &stop).status().code(), absl::StatusCode::kAborted);
      first->reset();
      // It wrote all but epoch 2's row.
      const std::string& full = straight[append];
      ASSERT_EQ(testing::ReadFileOrEmpty(path),
                full.substr(0, full.rfind('\n', full.size() - 2) + 1));
      if (!same_machine) std::filesystem::remove(path);

      absl::StatusOr<std::unique_ptr<JobRunner>> resumed =
          JobRunner::Create(csv_job(path, append), ResumeFrom(dir, "ckpt-e1-s12.keras", 1));
      ASSERT_TRUE(resumed.ok()) << resumed.status();
      ASSERT_TRUE((*resumed)->Fit({}, nullptr).ok());
      EXPECT_EQ(testing::ReadFileOrEmpty(path), straight[append && same_machine]);
    }
  }
}

TEST(JobRunnerTest, MidEpochCheckpointWithAnotherBatchSizeIsAnError) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<JobRunner>> first =
      JobRunner::Create(Job(JobYaml(1)), CheckpointInto(dir, 3));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE((*first)->Fit({}, nullptr).ok());

  std::string yaml = JobYaml(1);
  yaml.replace(yaml.find("batch_size: 64"), 14, "batch_size: 128");
  absl::StatusOr<std::unique_ptr<JobRunner>> resumed =
      JobRunner::Create(Job(yaml), ResumeFrom(dir, "ckpt-e0-s3.keras", 0));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  absl::StatusOr<History> history = (*resumed)->Fit({}, nullptr);
  EXPECT_EQ(history.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(history.status().message(),
              HasSubstr("initial_progress is step 3 of 8 steps per epoch, but this fit has 4"));
}

TEST(JobRunnerTest, BadResumeArchiveIsAnError) {
  JobRunOptions options;
  options.resume_path = "/nonexistent/ckpt.keras";
  absl::StatusOr<std::unique_ptr<JobRunner>> runner = JobRunner::Create(Job(JobYaml(1)), options);
  ASSERT_FALSE(runner.ok());
  EXPECT_THAT(runner.status().message(), HasSubstr("/nonexistent/ckpt.keras"));
}

}  // namespace
}  // namespace fornax
