// MonitorCallback: the "is this epoch an improvement" logic EarlyStopping and
// ReduceLROnPlateau share (keras/src/callbacks/monitor_callback.py).
//
// mode "min"/"max" fixes the direction; "auto" picks "min" for losses and
// errors (loss, <output>_loss, mae, mse, ...) and "max" for accuracies, and
// fails for any other metric, as Keras asks for an explicit mode then.
// An improvement is current + min_delta < best (min) or current - min_delta >
// best (max); there is none to beat before the first monitored epoch.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_MONITOR_CALLBACK_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_MONITOR_CALLBACK_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/keras/callbacks/callback.h"

namespace fornax {

class MonitorCallback : public Callback {
 protected:
  // InvalidArgument for a mode other than "auto", "min", "max".
  static absl::Status CheckMode(const std::string& mode);
  MonitorCallback(std::string monitor, std::string mode, double min_delta)
      : monitor_(std::move(monitor)),
        mode_(std::move(mode)),
        min_delta_(min_delta < 0 ? -min_delta : min_delta) {}

  // Resolves the direction on first use; InvalidArgument when "auto" cannot.
  absl::Status ResolveDirection();
  bool IsImprovement(double current, std::optional<double> reference) const;
  // The monitored value, or nullopt (with a warning on stderr) when absent.
  std::optional<double> MonitorValue(const Logs& logs, const char* who) const;

  const std::string& monitor() const { return monitor_; }

 private:
  std::string monitor_;
  std::string mode_;
  double min_delta_;
  std::optional<bool> lower_is_better_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_MONITOR_CALLBACK_H_
