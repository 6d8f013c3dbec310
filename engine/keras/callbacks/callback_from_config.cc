#include "engine/keras/callbacks/callback_from_config.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"
#include "engine/keras/callbacks/csv_logger.h"
#include "engine/keras/callbacks/early_stopping.h"
#include "engine/keras/callbacks/reduce_lr_on_plateau.h"
#include "engine/keras/callbacks/terminate_on_nan.h"
#include "engine/keras/losses/config_reader.h"

namespace fornax {
namespace {

absl::Status CheckFields(const nlohmann::json& config, const std::string& what,
                         const std::set<std::string>& known) {
  for (const auto& [key, value] : config.items()) {
    if (known.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": unknown field \"", key, "\"; expected one of: ", absl::StrJoin(known, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> NonNegativeInt(const ConfigReader& reader, const char* key, int fallback) {
  FORNAX_ASSIGN_OR_RETURN(int64_t value, reader.Int(key, fallback));
  if (value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(reader.what(), ": field \"", key, "\" must be >= 0, received: ", value));
  }
  return static_cast<int>(value);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Callback>> CallbackFromConfig(const nlohmann::json& entry) {
  std::string class_name;
  nlohmann::json config = nlohmann::json::object();
  if (entry.is_object() && entry.size() == 1 && !entry.contains("class_name")) {
    class_name = entry.begin().key();
    if (!entry.begin().value().is_null()) config = entry.begin().value();
  } else {
    FORNAX_ASSIGN_OR_RETURN(SerializedObject object, ParseSerialized(entry, "callback"));
    class_name = object.class_name;
    config = object.config;
  }
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "callback '", class_name, "': expected a config object, received: ", config.dump()));
  }
  const std::string what = absl::StrCat("callback '", class_name, "'");
  const ConfigReader reader(config, what);

  if (class_name == "EarlyStopping") {
    FORNAX_RETURN_IF_ERROR(CheckFields(config, what,
                                       {"monitor", "min_delta", "patience", "verbose", "mode",
                                        "baseline", "restore_best_weights", "start_from_epoch"}));
    EarlyStoppingOptions options;
    FORNAX_ASSIGN_OR_RETURN(options.monitor, reader.String("monitor", options.monitor));
    FORNAX_ASSIGN_OR_RETURN(options.min_delta, reader.Double("min_delta", options.min_delta));
    FORNAX_ASSIGN_OR_RETURN(options.patience, NonNegativeInt(reader, "patience", 0));
    FORNAX_ASSIGN_OR_RETURN(options.mode, reader.String("mode", options.mode));
    FORNAX_ASSIGN_OR_RETURN(options.baseline, reader.OptionalDouble("baseline"));
    FORNAX_ASSIGN_OR_RETURN(options.restore_best_weights,
                            reader.Bool("restore_best_weights", false));
    FORNAX_ASSIGN_OR_RETURN(options.start_from_epoch,
                            NonNegativeInt(reader, "start_from_epoch", 0));
    FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<EarlyStopping> callback,
                            EarlyStopping::Create(std::move(options)));
    return std::unique_ptr<Callback>(std::move(callback));
  }
  if (class_name == "ReduceLROnPlateau") {
    FORNAX_RETURN_IF_ERROR(CheckFields(
        config, what,
        {"monitor", "factor", "patience", "verbose", "mode", "min_delta", "cooldown", "min_lr"}));
    ReduceLROnPlateauOptions options;
    FORNAX_ASSIGN_OR_RETURN(options.monitor, reader.String("monitor", options.monitor));
    FORNAX_ASSIGN_OR_RETURN(options.factor, reader.Double("factor", options.factor));
    FORNAX_ASSIGN_OR_RETURN(options.patience, NonNegativeInt(reader, "patience", 10));
    FORNAX_ASSIGN_OR_RETURN(options.mode, reader.String("mode", options.mode));
    FORNAX_ASSIGN_OR_RETURN(options.min_delta, reader.Double("min_delta", options.min_delta));
    FORNAX_ASSIGN_OR_RETURN(options.cooldown, NonNegativeInt(reader, "cooldown", 0));
    FORNAX_ASSIGN_OR_RETURN(options.min_lr, reader.Double("min_lr", options.min_lr));
    FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<ReduceLROnPlateau> callback,
                            ReduceLROnPlateau::Create(std::move(options)));
    return std::unique_ptr<Callback>(std::move(callback));
  }
  if (class_name == "TerminateOnNaN") {
    FORNAX_RETURN_IF_ERROR(CheckFields(config, what, {"raise_error"}));
    return std::unique_ptr<Callback>(std::make_unique<TerminateOnNaN>());
  }
  if (class_name == "CSVLogger") {
    FORNAX_RETURN_IF_ERROR(CheckFields(config, what, {"filename", "separator", "append"}));
    FORNAX_ASSIGN_OR_RETURN(std::string filename, reader.String("filename", ""));
    if (filename.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": field \"filename\" is required"));
    }
    FORNAX_ASSIGN_OR_RETURN(std::string separator, reader.String("separator", ","));
    FORNAX_ASSIGN_OR_RETURN(bool append, reader.Bool("append", false));
    return std::unique_ptr<Callback>(std::make_unique<CsvLogger>(filename, separator, append));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "callback: unknown class '", class_name,
      "'; expected one of EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, CSVLogger"));
}

}  // namespace fornax
