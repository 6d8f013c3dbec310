// EarlyStopping: keras.callbacks.EarlyStopping. Stops training when the
// monitored metric has not improved for `patience` epochs (counted from
// start_from_epoch); with restore_best_weights, puts back the model weights
// of the best epoch when training ends. A baseline must be beaten for the
// patience counter to reset.
// State(): wait, best value and epoch, the stopped epoch and (with
// restore_best_weights) the best weights, so a resumed run stops at the same
// epoch and restores the same weights.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_EARLY_STOPPING_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_EARLY_STOPPING_H_

#include <optional>
#include <string>
#include <vector>

#include "engine/keras/callbacks/monitor_callback.h"
#include "engine/tensor/tensor.h"

namespace fornax {

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int patience = 0;
  std::string mode = "auto";
  std::optional<double> baseline;
  bool restore_best_weights = false;
  int start_from_epoch = 0;
};

class EarlyStopping : public MonitorCallback {
 public:
  static absl::StatusOr<std::unique_ptr<EarlyStopping>> Create(EarlyStoppingOptions options);

  std::string_view class_name() const override { return "EarlyStopping"; }

  absl::Status OnTrainBegin(TrainingControl& control) override;
  absl::Status OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) override;
  absl::Status OnTrainEnd(TrainingControl& control, const Logs& logs) override;
  nlohmann::json State() const override;
  absl::Status ResumeFrom(const nlohmann::json& state) override;

  int stopped_epoch() const { return stopped_epoch_; }
  int best_epoch() const { return best_epoch_; }

 private:
  explicit EarlyStopping(EarlyStoppingOptions options)
      : MonitorCallback(options.monitor, options.mode, options.min_delta),
        options_(std::move(options)) {}
  void SnapshotWeights(TrainingControl& control);
  // InvalidArgument unless best_weights_ fit the model's weights.
  absl::Status CheckResumedWeights(TrainingControl& control) const;

  EarlyStoppingOptions options_;
  int wait_ = 0;
  int stopped_epoch_ = 0;
  int best_epoch_ = 0;
  std::optional<double> best_;
  std::vector<Tensor> best_weights_;  // empty: none taken
  bool resumed_ = false;              // ResumeFrom set the state for OnTrainBegin
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_EARLY_STOPPING_H_
