#include "engine/keras/callbacks/history.h"

namespace fornax {

absl::Status HistoryCallback::OnTrainBegin(TrainingControl&) {
  history_.clear();
  return absl::OkStatus();
}

absl::Status HistoryCallback::OnEpochEnd(TrainingControl&, int /*epoch*/, const Logs& logs) {
  for (const auto& [name, value] : logs) history_[name].push_back(value);
  return absl::OkStatus();
}

}  // namespace fornax
