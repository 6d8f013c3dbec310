#include "engine/job/epoch_position.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/callbacks/callback_state.h"

namespace fornax {
namespace {

absl::Status Invalid(const std::string& archive, const std::string& field,
                     const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(archive, ": metadata.json: fornax.", field, ": expected ", expected));
}

absl::Status InArchive(const std::string& archive, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(archive, ": metadata.json: ", status.message()));
}

absl::StatusOr<int64_t> NonNegative(const nlohmann::json& state, const std::string& archive,
                                    const char* field) {
  if (!state.contains(field) || !state[field].is_number_integer() ||
      state[field].get<int64_t>() < 0) {
    return Invalid(archive, field, "an integer >= 0");
  }
  return state[field].get<int64_t>();
}

}  // namespace

nlohmann::json EpochPositionJson(int epoch, int64_t step, int64_t steps_per_epoch,
                                 const VariableStore& store, nlohmann::json callbacks,
                                 bool stop_training) {
  nlohmann::json metrics = nlohmann::json::object();
  for (int64_t i = 0; step > 0 && i < store.size(); ++i) {
    if (store.info(i).kind != VariableKind::kMetric) continue;
    metrics[store.info(i).path] = TensorStateJson(store.value(i));
  }
  return {{"epoch", epoch},
          {"step", step},
          {"steps_per_epoch", steps_per_epoch},
          {"metrics", std::move(metrics)},
          {"callbacks", std::move(callbacks)},
          {"stop_training", stop_training}};
}

absl::StatusOr<std::optional<EpochPosition>> ParseEpochPosition(const nlohmann::json& state,
                                                                const std::string& archive) {
  if (state.is_null()) return std::nullopt;
  if (!state.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(archive, ": metadata.json: fornax: expected an object"));
  }
  EpochPosition position;
  FORNAX_ASSIGN_OR_RETURN(int64_t epoch, NonNegative(state, archive, "epoch"));
  if (epoch > (1 << 30)) return Invalid(archive, "epoch", "at most 2^30");
  position.epoch = static_cast<int>(epoch);
  FORNAX_ASSIGN_OR_RETURN(position.progress.step, NonNegative(state, archive, "step"));
  FORNAX_ASSIGN_OR_RETURN(position.progress.steps_per_epoch,
                          NonNegative(state, archive, "steps_per_epoch"));
  const nlohmann::json metrics = state.value("metrics", nlohmann::json::object());
  if (!metrics.is_object()) return Invalid(archive, "metrics", "an object");
  for (const auto& [path, entry] : metrics.items()) {
    absl::StatusOr<Tensor> value =
        ParseTensorState(entry, absl::StrCat("fornax.metrics[\"", path, "\"]"));
    if (!value.ok()) return InArchive(archive, value.status());
    position.progress.metrics.emplace(path, *std::move(value));
  }
  const nlohmann::json callbacks = state.value("callbacks", nlohmann::json::array());
  if (!callbacks.is_array()) return Invalid(archive, "callbacks", "an array");
  for (size_t i = 0; i < callbacks.size(); ++i) {
    const nlohmann::json& entry = callbacks[i];
    if (!entry.is_object() || !entry.contains("class_name") || !entry["class_name"].is_string() ||
        !entry.contains("state")) {
      return Invalid(archive, absl::StrCat("callbacks[", i, "]"),
                     R"({"class_name": string, "state": ...})");
    }
  }
  position.callbacks = callbacks;
  const nlohmann::json stop = state.value("stop_training", nlohmann::json(false));
  if (!stop.is_boolean()) return Invalid(archive, "stop_training", "true or false");
  position.stop_training = stop.get<bool>();
  return position;
}

}  // namespace fornax
