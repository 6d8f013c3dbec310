// Callback: hooks around fit/evaluate/predict, as in keras.callbacks.Callback.
// Every hook does nothing by default. Logs carry Keras's names ("loss",
// "accuracy", "val_loss", "<output>_loss", "learning_rate").
// With steps_per_execution = N, batch hooks run once per execution, with
// `batch` the index of the last step in it (as Keras does).
// Keras's callbacks share one mutable logs dict at epoch end; here a callback
// that adds entries (ReduceLROnPlateau's "learning_rate") does so in
// AugmentEpochLogs, which the trainer calls right before that callback's
// OnEpochEnd, so later callbacks (History, CSVLogger) see the entry as in
// Keras.
// A checkpoint keeps each callback's State() (what it has learned: a best
// value, a patience counter), and a run resumed from it hands that to
// ResumeFrom before fit, so it goes on as if it had never stopped
// (engine/job/epoch_position.h).
// Serialized form for job files (CallbackFromConfig, callback_from_config.h):
// {"class_name": "EarlyStopping", "config": {...}}, as keras.saving writes.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace fornax {

using Logs = std::map<std::string, double>;

class Trainer;

// What a callback may read or change while training runs.
struct TrainingControl {
  Trainer* trainer = nullptr;
  bool stop_training = false;  // EarlyStopping / TerminateOnNaN set this
  int64_t steps_per_epoch = 0;
  int epochs = 0;
};

class Callback {
 public:
  virtual ~Callback() = default;
  // The class a job file names this callback by (Keras's: "EarlyStopping");
  // a checkpoint keys each job callback's State() by it. Empty for callbacks
  // no job file can name (History, progress bars, observers).
  virtual std::string_view class_name() const { return {}; }

  // A file this callback writes: its config field ("filename") and the path
  // as configured (ModelCheckpoint's is a pattern with {epoch} fields).
  struct WrittenFile {
    std::string field;
    std::string path;
  };
  // The files this callback writes, so that a service job can refuse paths
  // that leave its directory before it runs (CheckCallbackFilesStayInJobDir).
  virtual std::vector<WrittenFile> WrittenFiles() const { return {}; }
  virtual absl::Status OnTrainBegin(TrainingControl&) { return absl::OkStatus(); }
  virtual absl::Status OnTrainEnd(TrainingControl&, const Logs&) { return absl::OkStatus(); }
  virtual absl::Status OnEpochBegin(TrainingControl&, int /*epoch*/) { return absl::OkStatus(); }
  virtual absl::Status OnEpochEnd(TrainingControl&, int /*epoch*/, const Logs&) {
    return absl::OkStatus();
  }
  // Adds this callback's entries to the epoch logs (see above).
  virtual void AugmentEpochLogs(TrainingControl&, Logs*) {}
  virtual absl::Status OnTrainBatchEnd(TrainingControl&, int64_t /*batch*/, const Logs&) {
    return absl::OkStatus();
  }
  virtual absl::Status OnTestBegin(TrainingControl&) { return absl::OkStatus(); }
  virtual absl::Status OnTestEnd(TrainingControl&, const Logs&) { return absl::OkStatus(); }

  // This callback's state between hooks, in callback_state.h's exact forms;
  // null when it keeps none.
  virtual nlohmann::json State() const { return nullptr; }
  // The next OnTrainBegin continues from `state` (State()'s form, from a
  // checkpoint) instead of starting afresh. InvalidArgument naming the field
  // of a malformed one.
  virtual absl::Status ResumeFrom(const nlohmann::json& /*state*/) { return absl::OkStatus(); }
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_H_
