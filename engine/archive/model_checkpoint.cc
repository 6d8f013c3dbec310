// ModelCheckpoint: config parsing, Keras's filepath formatting and the
// save decision.
#include "engine/archive/model_checkpoint.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/archive/keras_archive.h"
#include "engine/base/status_macros.h"
#include "engine/keras/callbacks/callback_state.h"
#include "engine/keras/losses/config_reader.h"

namespace fornax {
namespace {

// One "{name}" or "{name:spec}" field; spec is "0Nd"/"Nd" for the epoch or
// ".Nf" for a log value.
absl::StatusOr<std::string> FormatField(const std::string& field, int epoch, const Logs& logs,
                                        const std::string& pattern) {
  const size_t colon = field.find(':');
  const std::string name = field.substr(0, colon);
  const std::string spec = colon == std::string::npos ? "" : field.substr(colon + 1);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("ModelCheckpoint: filepath '", pattern, "': field {", field, "}: ", why));
  };
  char buffer[64];
  if (name == "epoch") {
    if (spec.empty()) return absl::StrCat(epoch);
    int width = 0;
    const bool zero = spec[0] == '0';
    if (!absl::EndsWith(spec, "d") ||
        !absl::SimpleAtoi(spec.substr(zero ? 1 : 0, spec.size() - (zero ? 2 : 1)), &width) ||
        width < 0 || width > 20) {
      return bad("expected a format like 02d");
    }
    std::snprintf(buffer, sizeof(buffer), zero ? "%0*d" : "%*d", width, epoch);
    return std::string(buffer);
  }
  auto it = logs.find(name);
  if (it == logs.end()) return bad("no such value in this epoch's logs");
  if (spec.empty()) return absl::StrCat(it->second);
  int precision = 0;
  if (spec[0] != '.' || !absl::EndsWith(spec, "f") ||
      !absl::SimpleAtoi(spec.substr(1, spec.size() - 2), &precision) || precision < 0 ||
      precision > 17) {
    return bad("expected a format like .4f");
  }
  std::snprintf(buffer, sizeof(buffer), "%.*f", precision, it->second);
  return std::string(buffer);
}

}  // namespace

absl::StatusOr<std::string> ModelCheckpoint::FormatPath(const std::string& pattern, int epoch,
                                                        const Logs& logs) {
  std::string out;
  size_t pos = 0;
  while (pos < pattern.size()) {
    const size_t open = pattern.find('{', pos);
    if (open == std::string::npos) break;
    const size_t close = pattern.find('}', open);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("ModelCheckpoint: filepath '", pattern, "': unclosed '{'"));
    }
    out += pattern.substr(pos, open - pos);
    FORNAX_ASSIGN_OR_RETURN(
        std::string value,
        FormatField(pattern.substr(open + 1, close - open - 1), epoch, logs, pattern));
    out += value;
    pos = close + 1;
  }
  return out + pattern.substr(pos);
}

absl::StatusOr<std::unique_ptr<ModelCheckpoint>> ModelCheckpoint::FromJobEntry(
    const nlohmann::json& entry) {
  nlohmann::json config;
  if (entry.is_object() && entry.size() == 1 && entry.contains("ModelCheckpoint")) {
    config = entry["ModelCheckpoint"];
  } else if (entry.is_object() &&
             entry.value("class_name", nlohmann::json()) == "ModelCheckpoint") {
    config = entry.value("config", nlohmann::json::object());
  } else {
    return nullptr;
  }
  const ConfigReader reader(config, "callback 'ModelCheckpoint'");
  FORNAX_RETURN_IF_ERROR(reader.CheckKnownFields({"filepath", "monitor", "verbose",
                                                  "save_best_only", "save_weights_only", "mode",
                                                  "save_freq", "initial_value_threshold"}));
  FORNAX_ASSIGN_OR_RETURN(std::string filepath, reader.String("filepath", ""));
  if (!absl::EndsWith(filepath, ".keras")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "callback 'ModelCheckpoint': filepath must end in .keras (a full-model archive), "
        "received: '",
        filepath, "'"));
  }
  FORNAX_ASSIGN_OR_RETURN(bool weights_only, reader.Bool("save_weights_only", false));
  if (weights_only) {
    return absl::UnimplementedError(
        "callback 'ModelCheckpoint': save_weights_only is not supported; save .keras archives");
  }
  FORNAX_ASSIGN_OR_RETURN(std::string save_freq, reader.String("save_freq", "epoch"));
  if (save_freq != "epoch") {
    return absl::UnimplementedError(absl::StrCat(
        "callback 'ModelCheckpoint': save_freq must be \"epoch\", received: ", save_freq));
  }
  FORNAX_ASSIGN_OR_RETURN(std::string monitor, reader.String("monitor", "val_loss"));
  FORNAX_ASSIGN_OR_RETURN(std::string mode, reader.String("mode", "auto"));
  FORNAX_RETURN_IF_ERROR(CheckMode(mode));
  FORNAX_ASSIGN_OR_RETURN(bool best_only, reader.Bool("save_best_only", false));
  FORNAX_ASSIGN_OR_RETURN(std::optional<double> threshold,
                          reader.OptionalDouble("initial_value_threshold"));
  return std::unique_ptr<ModelCheckpoint>(
      new ModelCheckpoint(filepath, monitor, mode, best_only, threshold));
}

absl::Status ModelCheckpoint::OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) {
  if (save_best_only_) {
    FORNAX_RETURN_IF_ERROR(ResolveDirection());
    std::optional<double> current = MonitorValue(logs, "ModelCheckpoint");
    if (!current || !IsImprovement(*current, best_)) return absl::OkStatus();
    best_ = current;
  }
  FORNAX_ASSIGN_OR_RETURN(std::string path, FormatPath(filepath_, epoch + 1, logs));
  return SaveKerasArchive(path, *control.trainer);
}

nlohmann::json ModelCheckpoint::State() const { return {{"best", DoubleStateJson(best_)}}; }

absl::Status ModelCheckpoint::ResumeFrom(const nlohmann::json& state) {
  if (!state.is_object()) return absl::InvalidArgumentError("expected an object");
  FORNAX_ASSIGN_OR_RETURN(best_, ParseDoubleState(state.value("best", nlohmann::json()), "best"));
  return absl::OkStatus();
}

}  // namespace fornax
