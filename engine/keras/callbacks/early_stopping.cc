#include "engine/keras/callbacks/early_stopping.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/callbacks/callback_state.h"
#include "engine/keras/models/trainer.h"

namespace fornax {

absl::StatusOr<std::unique_ptr<EarlyStopping>> EarlyStopping::Create(EarlyStoppingOptions options) {
  FORNAX_RETURN_IF_ERROR(CheckMode(options.mode));
  return std::unique_ptr<EarlyStopping>(new EarlyStopping(std::move(options)));
}

absl::Status EarlyStopping::OnTrainBegin(TrainingControl& control) {
  if (resumed_) {
    resumed_ = false;
    return CheckResumedWeights(control);
  }
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

nlohmann::json EarlyStopping::State() const {
  nlohmann::json weights = nlohmann::json::array();
  for (const Tensor& value : best_weights_) weights.push_back(TensorStateJson(value));
  return {{"wait", wait_},
          {"stopped_epoch", stopped_epoch_},
          {"best_epoch", best_epoch_},
          {"best", DoubleStateJson(best_)},
          {"best_weights", std::move(weights)}};
}

absl::Status EarlyStopping::ResumeFrom(const nlohmann::json& state) {
  if (!state.is_object()) return absl::InvalidArgumentError("expected an object");
  FORNAX_ASSIGN_OR_RETURN(const int wait, ParseCountState(state, "wait"));
  FORNAX_ASSIGN_OR_RETURN(const int stopped_epoch, ParseCountState(state, "stopped_epoch"));
  FORNAX_ASSIGN_OR_RETURN(const int best_epoch, ParseCountState(state, "best_epoch"));
  FORNAX_ASSIGN_OR_RETURN(const std::optional<double> best,
                          ParseDoubleState(state.value("best", nlohmann::json()), "best"));
  const nlohmann::json weights = state.value("best_weights", nlohmann::json::array());
  if (!weights.is_array()) {
    return absl::InvalidArgumentError("best_weights: expected an array of tensors");
  }
  std::vector<Tensor> best_weights;
  for (size_t i = 0; i < weights.size(); ++i) {
    FORNAX_ASSIGN_OR_RETURN(Tensor value,
                            ParseTensorState(weights[i], absl::StrCat("best_weights[", i, "]")));
    best_weights.push_back(std::move(value));
  }
  wait_ = wait;
  stopped_epoch_ = stopped_epoch;
  best_epoch_ = best_epoch;
  best_ = best;
  best_weights_ = std::move(best_weights);
  resumed_ = true;
  return absl::OkStatus();
}

absl::Status EarlyStopping::CheckResumedWeights(TrainingControl& control) const {
  if (best_weights_.empty()) return absl::OkStatus();
  const VariableStore& store = control.trainer->variables();
  size_t next = 0;
  for (int64_t i = 0; i < store.size(); ++i) {
    if (store.info(i).kind != VariableKind::kWeight) continue;
    const Tensor& value = store.value(i);
    if (next == best_weights_.size() || best_weights_[next].dtype() != value.dtype() ||
        best_weights_[next].shape() != value.shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat("EarlyStopping: the resumed best_weights do not fit the model's weight ",
                       store.info(i).path, " (", std::string(DTypeName(value.dtype())), " ",
                       value.shape().ToString(), ")"));
    }
    ++next;
  }
  if (next != best_weights_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("EarlyStopping: the resumed best_weights hold ", best_weights_.size(),
                     " tensors but the model has ", next, " weights"));
  }
  return absl::OkStatus();
}

}  // namespace fornax
