#include "engine/job/job_runner.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "engine/archive/keras_archive.h"
#include "engine/archive/model_checkpoint.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"
#include "engine/job/epoch_position.h"
#include "engine/keras/callbacks/callback_from_config.h"
#include "engine/keras/models/model.h"
#include "engine/runtime/backend.h"

namespace fornax {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Turns the trainer's callbacks into the observer's step and epoch events.
class ObserverCallback : public Callback {
 public:
  // `fit`: where training starts (a resumed epoch's first step is not 0).
  ObserverCallback(JobObserver* observer, const FitConfig& fit, int* epochs_done, Logs* last_logs)
      : observer_(observer),
        batch_size_(fit.batch_size),
        initial_epoch_(fit.initial_epoch),
        initial_step_(fit.initial_progress.step),
        epochs_done_(epochs_done),
        last_logs_(last_logs) {}

  absl::Status OnEpochBegin(TrainingControl&, int epoch) override {
    epoch_ = epoch;
    prev_batch_ = (epoch == initial_epoch_ ? initial_step_ : 0) - 1;
    epoch_start_ = last_ = Now();
    return absl::OkStatus();
  }

  absl::Status OnTrainBatchEnd(TrainingControl& control, int64_t batch, const Logs& logs) override {
    const double now = Now();
    const int64_t steps = batch - prev_batch_;
    prev_batch_ = batch;
    if (observer_ != nullptr && steps > 0) {
      StepEvent e;
      e.epoch = epoch_;
      e.step = batch + 1;
      e.steps_per_epoch = control.steps_per_epoch;
      e.global_step = control.trainer->iterations();
      e.logs = logs;
      const double seconds = now - last_;
      e.step_seconds = seconds / static_cast<double>(steps);
      e.samples_per_second = seconds > 0 ? static_cast<double>(steps * batch_size_) / seconds : 0.0;
      observer_->OnStep(e);
    }
    last_ = now;
    return absl::OkStatus();
  }

  absl::Status OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) override {
    *epochs_done_ = epoch + 1;
    *last_logs_ = logs;
    if (observer_ != nullptr) {
      EpochEvent e;
      e.epoch = epoch;
      e.epochs = control.epochs;
      e.logs = logs;
      e.seconds = Now() - epoch_start_;
      e.retraces = control.trainer->retrace_count();
      observer_->OnEpoch(e);
    }
    return absl::OkStatus();
  }

 private:
  JobObserver* observer_;
  int64_t batch_size_;
  int initial_epoch_;
  int64_t initial_step_;
  int* epochs_done_;
  Logs* last_logs_;
  int epoch_ = 0;
  int64_t prev_batch_ = -1;
  double epoch_start_ = 0;
  double last_ = 0;
};

// EpochPosition's "callbacks": each job callback's class and State().
nlohmann::json CallbackStates(const std::vector<std::unique_ptr<Callback>>& callbacks) {
  nlohmann::json states = nlohmann::json::array();
  for (const auto& cb : callbacks) {
    states.push_back({{"class_name", std::string(cb->class_name())}, {"state", cb->State()}});
  }
  return states;
}

// Saves `trainer` to `path` (with `position` in its metadata) and reports it.
absl::Status WriteCheckpoint(Trainer& trainer, const std::string& path, int epoch, const Logs& logs,
                             bool final, JobObserver* observer,
                             const nlohmann::json& position = nullptr) {
  const double start = Now();
  FORNAX_RETURN_IF_ERROR(SaveKerasArchive(path, trainer, position));
  if (observer == nullptr) return absl::OkStatus();
  CheckpointEvent e;
  e.path = path;
  e.epoch = epoch;
  e.global_step = trainer.iterations();
  e.logs = logs;
  e.final = final;
  e.seconds = Now() - start;
  std::error_code ec;
  e.size_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  return observer->OnCheckpoint(e);
}

// Checkpoints at every epoch end, and every `every_steps` optimizer steps
// within an epoch (steps_per_execution may step over a multiple, so it
// checks whether one was crossed). It runs before the observer's epoch hook,
// so a service stores checkpoint N before it hears that epoch N ended (and
// the log reads as Keras's: ModelCheckpoint's line before the epoch's bar).
// Every checkpoint records its position, a mid-epoch one the epoch's
// running metrics too, and the job callbacks' states (epoch_position.h), so
// a resume from it is exact; it runs after the job's callbacks, so an epoch's
// checkpoint holds their state after that epoch. Once a callback stopped
// training there is no mid-epoch checkpoint: the epoch ends after that batch
// and its checkpoint records the stop.
class CheckpointCallback : public Callback {
 public:
  CheckpointCallback(std::string dir, int64_t every_steps, JobObserver* observer,
                     const std::vector<std::unique_ptr<Callback>>& job_callbacks)
      : dir_(std::move(dir)),
        every_steps_(every_steps),
        observer_(observer),
        job_callbacks_(job_callbacks) {}

  absl::Status OnTrainBegin(TrainingControl& control) override {
    last_saved_step_ = control.trainer->iterations();
    return absl::OkStatus();
  }
  absl::Status OnEpochBegin(TrainingControl&, int epoch) override {
    epoch_ = epoch;
    return absl::OkStatus();
  }
  absl::Status OnTrainBatchEnd(TrainingControl& control, int64_t batch, const Logs&) override {
    if (every_steps_ <= 0 || batch + 1 >= control.steps_per_epoch || control.stop_training) {
      return absl::OkStatus();
    }
    const int64_t step = control.trainer->iterations();
    if (step / every_steps_ == last_saved_step_ / every_steps_) return absl::OkStatus();
    return Save(control, epoch_, batch + 1);
  }
  absl::Status OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) override {
    epoch_logs_ = logs;
    return Save(control, epoch + 1, 0);
  }

 private:
  // Saves after `step` steps of epoch `epoch` (0-based; an epoch's end is step 0 of the next).
  absl::Status Save(TrainingControl& control, int epoch, int64_t step) {
    last_saved_step_ = control.trainer->iterations();
    const std::string path = absl::StrCat(dir_, "/ckpt-e", epoch, "-s", last_saved_step_, ".keras");
    return WriteCheckpoint(
        *control.trainer, path, epoch, epoch_logs_, false, observer_,
        EpochPositionJson(epoch, step, control.steps_per_epoch, control.trainer->variables(),
                          CallbackStates(job_callbacks_), control.stop_training));
  }

  std::string dir_;
  int64_t every_steps_;
  JobObserver* observer_;
  const std::vector<std::unique_ptr<Callback>>& job_callbacks_;
  int epoch_ = 0;
  int64_t last_saved_step_ = 0;
  Logs epoch_logs_;  // the last finished epoch's
};

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<Callback>>> BuildJobCallbacks(const JobSpec& job) {
  std::vector<std::unique_ptr<Callback>> callbacks;
  for (size_t i = 0; i < job.callbacks.size(); ++i) {
    // ModelCheckpoint saves archives, which the engine's callbacks cannot.
    absl::StatusOr<std::unique_ptr<Callback>> cb = ModelCheckpoint::FromJobEntry(job.callbacks[i]);
    if (cb.ok() && *cb == nullptr) cb = CallbackFromConfig(job.callbacks[i]);
    if (!cb.ok()) {
      return absl::Status(cb.status().code(), absl::StrCat(job.path, ": fit.callbacks[", i,
                                                           "]: ", cb.status().message()));
    }
    callbacks.push_back(*std::move(cb));
  }
  return callbacks;
}

absl::Status CheckCallbackFilesStayInJobDir(
    const JobSpec& job, const std::vector<std::unique_ptr<Callback>>& callbacks) {
  for (size_t i = 0; i < callbacks.size(); ++i) {
    for (const Callback::WrittenFile& file : callbacks[i]->WrittenFiles()) {
      // A leading "./" (common in Keras examples) names the same file.
      absl::string_view path = file.path;
      while (absl::ConsumePrefix(&path, "./")) {
      }
      absl::Status inside = CheckRelativePathInside(path);
      if (inside.ok()) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          job.path, ": fit.callbacks[", i, "] (", std::string(callbacks[i]->class_name()),
          "): ", file.field, ": expected a relative path inside the job's directory, got '",
          absl::CHexEscape(file.path), "' (", inside.message(), ")"));
    }
  }
  return absl::OkStatus();
}

JobRunner::~JobRunner() = default;

absl::StatusOr<std::unique_ptr<JobRunner>> JobRunner::Create(JobSpec job, JobRunOptions options) {
  std::unique_ptr<JobRunner> runner(new JobRunner());
  if (options.initial_epoch) job.fit.initial_epoch = *options.initial_epoch;
  // A .keras (or legacy .h5) model brings its weights and optimizer state: training resumes
  // where it stopped (with fit.initial_epoch, on the same epochs' shuffles).
  const std::string& archive = options.resume_path.empty() ? job.model_path : options.resume_path;
  const bool from_archive = IsModelArchive(archive);
  std::unique_ptr<Model> model;
  std::unique_ptr<Trainer>& trainer = runner->trainer_;
  std::optional<EpochPosition> resume;  // the archive's, when the run continues it
  if (from_archive) {
    nlohmann::json fornax_state;
    FORNAX_ASSIGN_OR_RETURN(trainer, LoadKerasArchive(archive, job.seed, &job.compile,
                                                      &job.compile_keys, &fornax_state));
    job.compile = trainer->compile_config();  // the archive's, under the job's compile keys
    // A checkpoint's run continues where it stopped (mid-epoch too, and with
    // its callbacks' state) when the run starts at its epoch, as a resume
    // does; another initial epoch starts afresh at that epoch's beginning.
    FORNAX_ASSIGN_OR_RETURN(std::optional<EpochPosition> position,
                            ParseEpochPosition(fornax_state, archive));
    if (position && position->epoch == job.fit.initial_epoch) {
      job.fit.initial_progress = std::move(position->progress);
      resume = std::move(position);
    }
  } else {
    FORNAX_ASSIGN_OR_RETURN(model, Model::FromJsonFile(job.model_path));
  }
  FORNAX_ASSIGN_OR_RETURN(runner->data_,
                          LoadJobData(job, from_archive ? trainer->model() : *model));
  FORNAX_ASSIGN_OR_RETURN(runner->job_callbacks_, BuildJobCallbacks(job));
  if (resume) FORNAX_RETURN_IF_ERROR(runner->ResumeCallbacks(*resume, archive));
  if (options.threads > 0) {
    FORNAX_ASSIGN_OR_RETURN(Backend * backend, GetBackend(job.compile.backend));
    backend->set_num_threads(options.threads);
  }
  if (!from_archive) {
    FORNAX_ASSIGN_OR_RETURN(trainer, Trainer::Create(std::move(model), job.compile, job.seed));
  }
  if (!options.checkpoint_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.checkpoint_dir, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot create checkpoint directory ",
                                              options.checkpoint_dir, ": ", ec.message()));
    }
  }
  runner->epochs_done_ = job.fit.initial_epoch;
  runner->job_ = std::move(job);
  runner->options_ = std::move(options);
  return runner;
}

absl::StatusOr<History> JobRunner::Fit(const std::vector<Callback*>& extra, JobObserver* observer) {
  ObserverCallback observe(observer, job_.fit, &epochs_done_, &last_epoch_logs_);
  CheckpointCallback checkpoint(options_.checkpoint_dir, options_.checkpoint_every_steps, observer,
                                job_callbacks_);
  std::vector<Callback*> callbacks;
  for (const auto& cb : job_callbacks_) callbacks.push_back(cb.get());
  if (!options_.checkpoint_dir.empty()) callbacks.push_back(&checkpoint);
  callbacks.insert(callbacks.end(), extra.begin(), extra.end());
  callbacks.push_back(&observe);
  const Dataset* validation = data_.validation ? &*data_.validation : nullptr;
  FitConfig fit = job_.fit;
  // Resumed after a callback stopped training: no epoch runs, but the
  // callbacks' train begin and end do (EarlyStopping restores its best weights).
  if (stopped_) fit.epochs = fit.initial_epoch;
  return trainer_->Fit(data_.train, validation, fit, callbacks);
}

absl::Status JobRunner::ResumeCallbacks(const EpochPosition& position, const std::string& archive) {
  stopped_ = position.stop_training;
  for (size_t i = 0; i < job_callbacks_.size(); ++i) {
    const std::string class_name(job_callbacks_[i]->class_name());
    if (i >= position.callbacks.size() || position.callbacks[i]["class_name"] != class_name) {
      // The job's callbacks changed since the checkpoint (a resume by hand).
      std::fprintf(stderr,
                   "%s: fit.callbacks[%zu] (%s) is not in the checkpoint's callbacks; it starts "
                   "afresh\n",
                   archive.c_str(), i, class_name.c_str());
      continue;
    }
    const absl::Status status = job_callbacks_[i]->ResumeFrom(position.callbacks[i]["state"]);
    if (!status.ok()) {
      return absl::Status(
          status.code(), absl::StrCat(archive, ": metadata.json: fornax.callbacks[", i, "].state (",
                                      class_name, "): ", status.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Logs>> JobRunner::Evaluate() {
  if (!data_.test) return std::optional<Logs>();
  FORNAX_ASSIGN_OR_RETURN(Logs logs, trainer_->Evaluate(*data_.test, job_.fit.batch_size));
  return std::optional<Logs>(std::move(logs));
}

int64_t JobRunner::test_steps() const {
  if (!data_.test) return 0;
  const int64_t batch = job_.fit.batch_size;
  return (data_.test->num_samples() + batch - 1) / batch;
}

absl::Status JobRunner::SaveModel(const std::string& path, JobObserver* observer) {
  return WriteCheckpoint(*trainer_, path, epochs_done_, last_epoch_logs_, true, observer);
}

}  // namespace fornax
