// JobRunner: what `fornax train` and the worker's job process both do with a
// job file: load the model (JSON, or a .keras archive with its weights and
// optimizer state) and the data, build the job's callbacks, compile, fit,
// evaluate and save the model as a .keras archive.
//
// Hooks for a service: a JobObserver sees every training step and epoch with
// their metrics and timing, and every checkpoint; checkpoints are .keras
// archives written at the end of every epoch (and every N optimizer steps
// when asked) into a directory. Resuming starts from such an archive with
// fit.initial_epoch set to its epoch count: on the CPU backend, 2 epochs +
// checkpoint + resume for 1 more ends bit-identical to 3 epochs straight
// (shuffles are keyed by (seed, epoch), randomness by optimizer iteration).
// A checkpoint written mid-epoch also records its step within the epoch and
// the epoch's running metrics (epoch_position.h); resumed at that epoch, the
// run skips the batches already trained and ends bit-identical too, with the
// same epoch logs. Every checkpoint records the job callbacks' state too
// (EarlyStopping's patience and best weights, ReduceLROnPlateau's, a
// save_best_only ModelCheckpoint's best, CSVLogger's rows) and whether one
// had stopped training: a resumed run stops and reduces the rate at the same
// epochs, and CSVLogger's file ends as an uninterrupted run's.
// Thread-safety: none; one runner per training run.
#ifndef FORNAX_ENGINE_JOB_JOB_RUNNER_H_
#define FORNAX_ENGINE_JOB_JOB_RUNNER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/job/epoch_position.h"
#include "engine/job/job_data.h"
#include "engine/job/job_file.h"
#include "engine/keras/callbacks/callback.h"
#include "engine/keras/models/trainer.h"

namespace fornax {

struct JobRunOptions {
  int threads = 0;  // compute threads for the job's backend; 0: its default
  // Start from this .keras archive instead of the job's model (a resume).
  std::string resume_path;
  std::optional<int> initial_epoch;  // overrides the job's fit.initial_epoch
  // Where checkpoints go (created if missing); empty: no checkpoints.
  std::string checkpoint_dir;
  int64_t checkpoint_every_steps = 0;  // also every N optimizer steps when > 0
};

struct StepEvent {
  int epoch = 0;     // 0-based
  int64_t step = 0;  // within the epoch, 1-based
  int64_t steps_per_epoch = 0;
  int64_t global_step = 0;  // optimizer iterations so far
  Logs logs;
  double step_seconds = 0;  // per step, averaged over the execution
  double samples_per_second = 0;
};

struct EpochEvent {
  int epoch = 0;  // 0-based
  int epochs = 0;
  Logs logs;  // with val_* when there is validation data
  double seconds = 0;
  int retraces = 0;  // the trainer's traces so far
};

struct CheckpointEvent {
  std::string path;
  int epoch = 0;  // epochs completed when it was written
  int64_t global_step = 0;
  Logs logs;  // the last finished epoch's
  bool final = false;
  int64_t size_bytes = 0;
  double seconds = 0;  // time to write it
};

class JobObserver {
 public:
  virtual ~JobObserver() = default;
  virtual void OnStep(const StepEvent&) {}
  virtual void OnEpoch(const EpochEvent&) {}
  // An error stops training with that error.
  virtual absl::Status OnCheckpoint(const CheckpointEvent&) { return absl::OkStatus(); }
};

// The job file's callbacks (fit.callbacks) built, as JobRunner::Create
// does; nothing is opened or written yet. Errors name the job file and the
// entry ("job.yaml: fit.callbacks[1]: callback: unknown class 'X'; ...").
absl::StatusOr<std::vector<std::unique_ptr<Callback>>> BuildJobCallbacks(const JobSpec& job);

// On the service a job's files stay in its own directory on the worker:
// InvalidArgument naming the callback (its index in fit.callbacks, which
// `callbacks`, BuildJobCallbacks's, follows), class and field when a file it
// writes (Callback::WrittenFiles) could leave it (CheckRelativePathInside).
// `fornax train` does not ask: it writes where the paths say.
absl::Status CheckCallbackFilesStayInJobDir(
    const JobSpec& job, const std::vector<std::unique_ptr<Callback>>& callbacks);

class JobRunner {
 public:
  // Loads everything and compiles; errors name the job file and field.
  static absl::StatusOr<std::unique_ptr<JobRunner>> Create(JobSpec job, JobRunOptions options);
  ~JobRunner();

  // model.fit with the job's callbacks, then the checkpoints, `extra` (e.g.
  // a progress bar) and the observer's hooks, in that order: checkpoint N is
  // reported before epoch N's end. `observer` may be null.
  absl::StatusOr<History> Fit(const std::vector<Callback*>& extra, JobObserver* observer);
  // model.evaluate on the job's test data; nullopt when it has none.
  absl::StatusOr<std::optional<Logs>> Evaluate();
  // Evaluate's number of steps (0 without test data).
  int64_t test_steps() const;
  // The model, weights and optimizer state as a .keras archive; reported to
  // `observer` (when given) as the final checkpoint.
  absl::Status SaveModel(const std::string& path, JobObserver* observer = nullptr);

  const JobSpec& job() const { return job_; }
  Trainer& trainer() { return *trainer_; }

 private:
  JobRunner() = default;
  // Hands the checkpoint's callback states to the job's callbacks (a callback
  // not in them, or of another class, starts afresh with a note on stderr).
  absl::Status ResumeCallbacks(const EpochPosition& position, const std::string& archive);
  JobSpec job_;
  JobRunOptions options_;
  JobData data_;
  std::vector<std::unique_ptr<Callback>> job_callbacks_;
  std::unique_ptr<Trainer> trainer_;
  int epochs_done_ = 0;
  Logs last_epoch_logs_;
  bool stopped_ = false;  // resumed from a checkpoint taken after a callback stopped training
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_JOB_JOB_RUNNER_H_
