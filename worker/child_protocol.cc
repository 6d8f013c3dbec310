#include "worker/child_protocol.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace fornax::worker {
namespace {

using nlohmann::json;

json MetricsJson(const Logs& logs) {
  json out = json::object();
  for (const auto& [name, value] : logs) out[name] = value;
  return out;
}

void ReadMetrics(const json& j, fornax::v1::Metrics* out) {
  for (const auto& [name, value] : j.items()) (*out->mutable_values())[name] = value.get<double>();
}

}  // namespace

std::string StepLine(const StepEvent& e) {
  return json{{"type", "step"},
              {"epoch", e.epoch},
              {"step", e.step},
              {"steps_per_epoch", e.steps_per_epoch},
              {"global_step", e.global_step},
              {"metrics", MetricsJson(e.logs)},
              {"step_seconds", e.step_seconds},
              {"samples_per_second", e.samples_per_second}}
      .dump();
}

std::string EpochLine(const EpochEvent& e) {
  return json{{"type", "epoch"},      {"epoch", e.epoch},
              {"epochs", e.epochs},   {"metrics", MetricsJson(e.logs)},
              {"seconds", e.seconds}, {"retraces", e.retraces}}
      .dump();
}

std::string CheckpointLine(const CheckpointEvent& e) {
  return json{{"type", "checkpoint"},
              {"path", e.path},
              {"epoch", e.epoch},
              {"global_step", e.global_step},
              {"metrics", MetricsJson(e.logs)},
              {"final", e.final},
              {"size_bytes", e.size_bytes},
              {"seconds", e.seconds}}
      .dump();
}

std::string ErrorLine(const std::string& message) {
  return json{{"type", "error"}, {"message", message}}.dump();
}

absl::StatusOr<ChildMessage> ParseChildLine(const std::string& line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("not a job process event: ", line));
  }
  // The job process is ours: a missing or mistyped field is a bug, reported
  // as a bad line rather than thrown.
  try {
    const std::string type = j["type"].get<std::string>();
    ChildMessage m;
    if (type == "step") {
      fornax::v1::StepMetrics& s = m.step.emplace();
      s.set_epoch(j.at("epoch").get<int>());
      s.set_step(j.at("step").get<int64_t>());
      s.set_steps_per_epoch(j.at("steps_per_epoch").get<int64_t>());
      s.set_global_step(j.at("global_step").get<int64_t>());
      ReadMetrics(j.at("metrics"), s.mutable_metrics());
      s.set_step_seconds(j.at("step_seconds").get<double>());
      s.set_samples_per_second(j.at("samples_per_second").get<double>());
    } else if (type == "epoch") {
      fornax::v1::EpochMetrics& e = m.epoch.emplace();
      e.set_epoch(j.at("epoch").get<int>());
      e.set_epochs(j.at("epochs").get<int>());
      ReadMetrics(j.at("metrics"), e.mutable_metrics());
      e.set_seconds(j.at("seconds").get<double>());
      m.retraces = j.at("retraces").get<int>();
    } else if (type == "checkpoint") {
      ChildCheckpoint& c = m.checkpoint.emplace();
      c.path = j.at("path").get<std::string>();
      c.record.set_epoch(j.at("epoch").get<int>());
      c.record.set_global_step(j.at("global_step").get<int64_t>());
      ReadMetrics(j.at("metrics"), c.record.mutable_metrics());
      c.record.set_final(j.at("final").get<bool>());
      c.record.set_size_bytes(j.at("size_bytes").get<int64_t>());
      c.seconds = j.at("seconds").get<double>();
    } else if (type == "error") {
      m.error = j.at("message").get<std::string>();
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown job process event: ", line));
    }
    return m;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad job process event (", e.what(), "): ", line));
  }
}

}  // namespace fornax::worker
