#include "client/history_json.h"

#include <cmath>

#include "engine/data/file_util.h"

namespace fornax {
namespace {

nlohmann::json Number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

nlohmann::json HistoryToJson(const History& history, const std::optional<Logs>& evaluate) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, values] : history) {
    nlohmann::json list = nlohmann::json::array();
    for (double v : values) list.push_back(Number(v));
    out[name] = std::move(list);
  }
  if (evaluate) {
    nlohmann::json eval = nlohmann::json::object();
    for (const auto& [name, v] : *evaluate) eval[name] = Number(v);
    out["evaluate"] = std::move(eval);
  }
  return out;
}

absl::Status WriteHistoryFile(const std::string& path, const History& history,
                              const std::optional<Logs>& evaluate) {
  return WriteStringToFile(path, HistoryToJson(history, evaluate).dump(2) + "\n");
}

}  // namespace fornax
