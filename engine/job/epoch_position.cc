#include "engine/job/epoch_position.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

absl::Status Invalid(const std::string& archive, const std::string& field,
                     const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(archive, ": metadata.json: fornax.", field, ": expected ", expected));
}

absl::StatusOr<int64_t> NonNegative(const nlohmann::json& state, const std::string& archive,
                                    const char* field) {
  if (!state.contains(field) || !state[field].is_number_integer() ||
      state[field].get<int64_t>() < 0) {
    return Invalid(archive, field, "an integer >= 0");
  }
  return state[field].get<int64_t>();
}

absl::StatusOr<Tensor> ParseMetric(const nlohmann::json& entry, const std::string& archive,
                                   const std::string& field) {
  if (!entry.is_object() || !entry.contains("dtype") || !entry["dtype"].is_string() ||
      !entry.contains("shape") || !entry["shape"].is_array() || !entry.contains("hex") ||
      !entry["hex"].is_string()) {
    return Invalid(archive, field, R"({"dtype": string, "shape": [int...], "hex": string})");
  }
  absl::StatusOr<DType> dtype = ParseDType(entry["dtype"].get<std::string>());
  if (!dtype.ok()) return Invalid(archive, field + ".dtype", "a dtype name");
  std::vector<int64_t> dims;
  for (const nlohmann::json& dim : entry["shape"]) {
    if (!dim.is_number_integer() || dim.get<int64_t>() < 0 || dim.get<int64_t>() > (1 << 20)) {
      return Invalid(archive, field + ".shape", "dims in [0, 2^20]");
    }
    dims.push_back(dim.get<int64_t>());
  }
  Tensor value(*dtype, Shape(std::move(dims)));
  const std::string hex = entry["hex"].get<std::string>();
  bool is_hex = hex.size() == 2 * value.byte_size();
  for (char c : hex) is_hex = is_hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!is_hex) {
    return Invalid(archive, field + ".hex", absl::StrCat(2 * value.byte_size(), " hex digits"));
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  std::memcpy(value.raw_data(), bytes.data(), bytes.size());
  return value;
}

}  // namespace

nlohmann::json EpochPositionJson(int epoch, int64_t step, int64_t steps_per_epoch,
                                 const VariableStore& store) {
  nlohmann::json metrics = nlohmann::json::object();
  for (int64_t i = 0; i < store.size(); ++i) {
    if (store.info(i).kind != VariableKind::kMetric) continue;
    const Tensor& value = store.value(i);
    metrics[store.info(i).path] = {
        {"dtype", std::string(DTypeName(value.dtype()))},
        {"shape", value.shape().dims()},
        {"hex", absl::BytesToHexString(absl::string_view(static_cast<const char*>(value.raw_data()),
                                                         value.byte_size()))}};
  }
  return {{"epoch", epoch},
          {"step", step},
          {"steps_per_epoch", steps_per_epoch},
          {"metrics", std::move(metrics)}};
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
    FORNAX_ASSIGN_OR_RETURN(Tensor value,
                            ParseMetric(entry, archive, absl::StrCat("metrics[\"", path, "\"]")));
    position.progress.metrics.emplace(path, std::move(value));
  }
  return position;
}

}  // namespace fornax
