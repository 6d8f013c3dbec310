#include "engine/keras/callbacks/early_stopping.h"

#include <cstring>

#include "engine/base/status_macros.h"
#include "engine/keras/models/trainer.h"

namespace fornax {

absl::StatusOr<std::unique_ptr<EarlyStopping>> EarlyStopping::Create(EarlyStoppingOptions options) {
  FORNAX_RETURN_IF_ERROR(CheckMode(options.mode));
  return std::unique_ptr<EarlyStopping>(new EarlyStopping(std::move(options)));
}

absl::Status EarlyStopping::OnTrainBegin(TrainingControl&) {
  wait_ = 0;
  stopped_epoch_ = 0;
  best_.reset();
  best_weights_.clear();
  best_epoch_ = 0;
  return absl::OkStatus();
}

void EarlyStopping::SnapshotWeights(TrainingControl& control) {
  best_weights_.clear();
  VariableStore& store = control.trainer->variables();
  for (int64_t i = 0; i < store.size(); ++i) {
    if (store.info(i).kind == VariableKind::kWeight)
      best_weights_.push_back(store.value(i).Clone());
  }
}

absl::Status EarlyStopping::OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) {
  FORNAX_RETURN_IF_ERROR(ResolveDirection());
  std::optional<double> current = MonitorValue(logs, "Early stopping");
  if (!current || epoch < options_.start_from_epoch) return absl::OkStatus();
  if (options_.restore_best_weights && best_weights_.empty()) {
    SnapshotWeights(control);
    best_epoch_ = epoch;
  }
  ++wait_;
  if (IsImprovement(*current, best_)) {
    best_ = *current;
    best_epoch_ = epoch;
    if (options_.restore_best_weights) SnapshotWeights(control);
    if (!options_.baseline || IsImprovement(*current, options_.baseline)) wait_ = 0;
    return absl::OkStatus();
  }
  if (wait_ >= options_.patience && epoch > 0) {
    stopped_epoch_ = epoch;
    control.stop_training = true;
  }
  return absl::OkStatus();
}

absl::Status EarlyStopping::OnTrainEnd(TrainingControl& control, const Logs&) {
  if (!options_.restore_best_weights || best_weights_.empty()) return absl::OkStatus();
  VariableStore& store = control.trainer->variables();
  size_t next = 0;
  for (int64_t i = 0; i < store.size(); ++i) {
    if (store.info(i).kind != VariableKind::kWeight) continue;
    Tensor& value = store.value(i);
    std::memcpy(value.raw_data(), best_weights_[next++].raw_data(), value.byte_size());
  }
  return absl::OkStatus();
}

}  // namespace fornax
