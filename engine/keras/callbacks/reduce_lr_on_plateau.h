// ReduceLROnPlateau: keras.callbacks.ReduceLROnPlateau. When the monitored
// metric has not improved (by min_delta) for `patience` epochs, multiplies
// the optimizer's learning rate by `factor` (not below min_lr), then waits
// `cooldown` epochs. Adds "learning_rate" (before any reduction) to the epoch
// logs, as Keras does. State(): best, wait and cooldown counter; the rate
// it set is the optimizer's learning_rate variable, which archives keep.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_REDUCE_LR_ON_PLATEAU_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_REDUCE_LR_ON_PLATEAU_H_

#include <optional>
#include <string>

#include "engine/keras/callbacks/monitor_callback.h"

namespace fornax {

struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  std::string mode = "auto";
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
};

class ReduceLROnPlateau : public MonitorCallback {
 public:
  // InvalidArgument for factor >= 1 or a bad mode.
  static absl::StatusOr<std::unique_ptr<ReduceLROnPlateau>> Create(
      ReduceLROnPlateauOptions options);

  std::string_view class_name() const override { return "ReduceLROnPlateau"; }

  absl::Status OnTrainBegin(TrainingControl& control) override;
  void AugmentEpochLogs(TrainingControl& control, Logs* logs) override;
  absl::Status OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) override;
  nlohmann::json State() const override;
  absl::Status ResumeFrom(const nlohmann::json& state) override;

 private:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options)
      : MonitorCallback(options.monitor, options.mode, options.min_delta),
        options_(std::move(options)) {}

  ReduceLROnPlateauOptions options_;
  std::optional<double> best_;
  int cooldown_counter_ = 0;
  int wait_ = 0;
  bool resumed_ = false;  // ResumeFrom set the state for OnTrainBegin
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_REDUCE_LR_ON_PLATEAU_H_
