// The --history file of `fornax train`: Keras's History.history (metric name
// -> one value per epoch) plus, when the job has test data, "evaluate":
// {metric name -> value}. Non-finite values are written as null (JSON has no
// NaN), as Python's json module would refuse them too.
#ifndef FORNAX_CLIENT_HISTORY_JSON_H_
#define FORNAX_CLIENT_HISTORY_JSON_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "engine/keras/callbacks/callback.h"
#include "engine/keras/models/trainer.h"
#include "nlohmann/json.hpp"

namespace fornax {

nlohmann::json HistoryToJson(const History& history, const std::optional<Logs>& evaluate);
absl::Status WriteHistoryFile(const std::string& path, const History& history,
                              const std::optional<Logs>& evaluate);

}  // namespace fornax

#endif  // FORNAX_CLIENT_HISTORY_JSON_H_
