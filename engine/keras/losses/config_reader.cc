#include "engine/keras/losses/config_reader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fornax {

absl::StatusOr<SerializedObject> ParseSerialized(const nlohmann::json& j, const std::string& what) {
  SerializedObject object;
  if (j.is_string()) {
    object.class_name = j.get<std::string>();
    object.from_string = true;
    return object;
  }
  if (j.is_object() && j.contains("class_name") && j["class_name"].is_string()) {
    object.class_name = j["class_name"].get<std::string>();
    if (j.contains("config") && !j["config"].is_null()) {
      if (!j["config"].is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": expected \"config\" to be an object, received: ", j["config"].dump()));
      }
      object.config = j["config"];
    }
    return object;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what,
                   ": expected a string identifier or {\"class_name\": ..., \"config\": {...}}, "
                   "received: ",
                   j.dump()));
}

bool ConfigReader::Has(const char* key) const {
  return config_.is_object() && config_.contains(key) && !config_[key].is_null();
}

absl::Status ConfigReader::WrongType(const char* key, const char* expected) const {
  return absl::InvalidArgumentError(
      absl::StrCat(what_, ": field \"", key, "\" must be ", expected, ", received: ",
                   config_.is_object() && config_.contains(key) ? config_[key].dump() : "nothing"));
}

absl::Status ConfigReader::CheckKnownFields(const std::vector<std::string>& known) const {
  if (!config_.is_object()) return absl::OkStatus();
  for (const auto& [key, value] : config_.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what_, ": unknown field \"", key, "\"; expected one of: ", absl::StrJoin(known, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> ConfigReader::Double(const char* key, double default_value) const {
  if (!Has(key)) return default_value;
  if (!config_[key].is_number()) return WrongType(key, "a number");
  return config_[key].get<double>();
}

absl::StatusOr<std::optional<double>> ConfigReader::OptionalDouble(const char* key) const {
  if (!Has(key)) return std::optional<double>();
  if (!config_[key].is_number()) return WrongType(key, "a number or null");
  return std::optional<double>(config_[key].get<double>());
}

absl::StatusOr<int64_t> ConfigReader::Int(const char* key, int64_t default_value) const {
  if (!Has(key)) return default_value;
  const nlohmann::json& v = config_[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && v.get<double>() == static_cast<double>(v.get<int64_t>())) {
    return v.get<int64_t>();
  }
  return WrongType(key, "an integer");
}

absl::StatusOr<bool> ConfigReader::Bool(const char* key, bool default_value) const {
  if (!Has(key)) return default_value;
  if (!config_[key].is_boolean()) return WrongType(key, "true or false");
  return config_[key].get<bool>();
}

absl::StatusOr<std::string> ConfigReader::String(const char* key,
                                                 const std::string& default_value) const {
  if (!Has(key)) return default_value;
  if (!config_[key].is_string()) return WrongType(key, "a string");
  return config_[key].get<std::string>();
}

absl::StatusOr<std::vector<double>> ConfigReader::DoubleList(const char* key) const {
  if (!Has(key) || !config_[key].is_array()) return WrongType(key, "a list of numbers");
  std::vector<double> values;
  for (const nlohmann::json& v : config_[key]) {
    if (!v.is_number()) return WrongType(key, "a list of numbers");
    values.push_back(v.get<double>());
  }
  return values;
}

}  // namespace fornax
