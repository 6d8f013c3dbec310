// History: keras.callbacks.History. Records every epoch's logs: metric name
// -> one value per epoch. Trainer::Fit runs one last and returns its record.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_HISTORY_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_HISTORY_H_

#include <map>
#include <string>
#include <vector>

#include "engine/keras/callbacks/callback.h"

namespace fornax {

class HistoryCallback : public Callback {
 public:
  absl::Status OnTrainBegin(TrainingControl&) override;
  absl::Status OnEpochEnd(TrainingControl&, int epoch, const Logs& logs) override;
  const std::map<std::string, std::vector<double>>& history() const { return history_; }

 private:
  std::map<std::string, std::vector<double>> history_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_HISTORY_H_
