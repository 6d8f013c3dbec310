// ConfigReader: typed reads of a Keras serialized object's "config" dict,
// with error messages that name the object, the field, what was expected and
// what was received. Shared by losses, metrics, optimizers, schedules and
// callbacks, which all parse Keras's serialized forms:
//   "adam"  or  {"class_name": "Adam", "config": {...}, "module": ...}
// Thread-safety: none needed (reads a const json).
#ifndef FORNAX_ENGINE_KERAS_LOSSES_CONFIG_READER_H_
#define FORNAX_ENGINE_KERAS_LOSSES_CONFIG_READER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace fornax {

// A serialized Keras object split into its class (or string identifier) and
// its config (empty for a string identifier).
struct SerializedObject {
  std::string class_name;
  nlohmann::json config = nlohmann::json::object();
  bool from_string = false;
};

// Accepts a string identifier or {"class_name": ..., "config": {...}}.
// `what` names the argument in errors ("optimizer", "loss for output 'cls'").
absl::StatusOr<SerializedObject> ParseSerialized(const nlohmann::json& j, const std::string& what);

class ConfigReader {
 public:
  // `what` names the object in errors, e.g. "optimizer 'Adam'".
  ConfigReader(const nlohmann::json& config, std::string what)
      : config_(config), what_(std::move(what)) {}

  bool Has(const char* key) const;  // present and not null
  absl::StatusOr<double> Double(const char* key, double default_value) const;
  // Missing or null -> nullopt.
  absl::StatusOr<std::optional<double>> OptionalDouble(const char* key) const;
  absl::StatusOr<int64_t> Int(const char* key, int64_t default_value) const;
  absl::StatusOr<bool> Bool(const char* key, bool default_value) const;
  absl::StatusOr<std::string> String(const char* key, const std::string& default_value) const;
  absl::StatusOr<std::vector<double>> DoubleList(const char* key) const;
  const nlohmann::json& raw(const char* key) const { return config_.at(key); }
  // InvalidArgument naming the first field not in `known` (Keras refuses
  // unrecognized arguments too).
  absl::Status CheckKnownFields(const std::vector<std::string>& known) const;
  const std::string& what() const { return what_; }

 private:
  absl::Status WrongType(const char* key, const char* expected) const;
  const nlohmann::json& config_;
  std::string what_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_LOSSES_CONFIG_READER_H_
