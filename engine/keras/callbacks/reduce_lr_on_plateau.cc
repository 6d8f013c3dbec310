#include "engine/keras/callbacks/reduce_lr_on_plateau.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/callbacks/callback_state.h"
#include "engine/keras/models/trainer.h"

namespace fornax {

absl::StatusOr<std::unique_ptr<ReduceLROnPlateau>> ReduceLROnPlateau::Create(
    ReduceLROnPlateauOptions options) {
  FORNAX_RETURN_IF_ERROR(CheckMode(options.mode));
  if (options.factor >= 1.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ReduceLROnPlateau does not support a factor >= 1.0, received: factor=", options.factor));
  }
  return std::unique_ptr<ReduceLROnPlateau>(new ReduceLROnPlateau(std::move(options)));
}

absl::Status ReduceLROnPlateau::OnTrainBegin(TrainingControl&) {
  if (resumed_) {
    resumed_ = false;
    return absl::OkStatus();
  }
  best_.reset();
  cooldown_counter_ = 0;
  wait_ = 0;
  return absl::OkStatus();
}

void ReduceLROnPlateau::AugmentEpochLogs(TrainingControl& control, Logs* logs) {
  (*logs)["learning_rate"] = control.trainer->learning_rate();
}

absl::Status ReduceLROnPlateau::OnEpochEnd(TrainingControl& control, int /*epoch*/,
                                           const Logs& logs) {
  FORNAX_RETURN_IF_ERROR(ResolveDirection());
  std::optional<double> current = MonitorValue(logs, "Learning rate reduction");
  if (!current) return absl::OkStatus();
  const bool in_cooldown = cooldown_counter_ > 0;
  if (in_cooldown) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (IsImprovement(*current, best_)) {
    best_ = *current;
    wait_ = 0;
  } else if (cooldown_counter_ <= 0) {
    ++wait_;
    if (wait_ >= options_.patience) {
      const double old_lr = control.trainer->learning_rate();
      if (old_lr > static_cast<double>(static_cast<float>(options_.min_lr))) {
        const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
        FORNAX_RETURN_IF_ERROR(control.trainer->set_learning_rate(new_lr));
        cooldown_counter_ = options_.cooldown;
        wait_ = 0;
      }
    }
  }
  return absl::OkStatus();
}

nlohmann::json ReduceLROnPlateau::State() const {
  return {
      {"best", DoubleStateJson(best_)}, {"wait", wait_}, {"cooldown_counter", cooldown_counter_}};
}

absl::Status ReduceLROnPlateau::ResumeFrom(const nlohmann::json& state) {
  if (!state.is_object()) return absl::InvalidArgumentError("expected an object");
  FORNAX_ASSIGN_OR_RETURN(const std::optional<double> best,
                          ParseDoubleState(state.value("best", nlohmann::json()), "best"));
  FORNAX_ASSIGN_OR_RETURN(const int wait, ParseCountState(state, "wait"));
  FORNAX_ASSIGN_OR_RETURN(const int cooldown_counter, ParseCountState(state, "cooldown_counter"));
  best_ = best;
  wait_ = wait;
  cooldown_counter_ = cooldown_counter;
  resumed_ = true;
  return absl::OkStatus();
}

}  // namespace fornax
