#include "engine/keras/config_util.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fornax {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool IsIntegral(const nlohmann::json& v) {
  if (v.is_number_integer()) return true;
  // Keras writes ints, but hand-written configs may say 3.0.
  return v.is_number_float() && std::isfinite(v.get<double>()) &&
         v.get<double>() == std::floor(v.get<double>());
}

int64_t AsInt(const nlohmann::json& v) {
  return v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(v.get<double>());
}

}  // namespace

const nlohmann::json& Field(const nlohmann::json& obj, const std::string& key) {
  static const nlohmann::json* kNull = new nlohmann::json();
  if (!obj.is_object()) return *kNull;
  auto it = obj.find(key);
  return it == obj.end() ? *kNull : *it;
}

std::string PythonRepr(const nlohmann::json& value) {
  if (value.is_null()) return "None";
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_string()) return absl::StrCat("'", value.get<std::string>(), "'");
  if (value.is_array()) {
    std::vector<std::string> parts;
    for (const auto& v : value) parts.push_back(PythonRepr(v));
    return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
  }
  if (value.is_object()) {
    std::vector<std::string> parts;
    for (const auto& [k, v] : value.items()) {
      parts.push_back(absl::StrCat("'", k, "': ", PythonRepr(v)));
    }
    return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
  }
  return value.dump();
}

std::string ShapeRepr(const nlohmann::json& shape) {
  if (!shape.is_array()) return PythonRepr(shape);
  std::vector<std::string> parts;
  for (const auto& v : shape) parts.push_back(PythonRepr(v));
  if (parts.size() == 1) return absl::StrCat("(", parts[0], ",)");
  return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
}

ConfigView::ConfigView(const nlohmann::json& config, std::string context)
    : config_(config), context_(std::move(context)) {}

const nlohmann::json* ConfigView::Find(const std::string& key) const {
  if (!config_.is_object()) return nullptr;
  auto it = config_.find(key);
  if (it == config_.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::Status ConfigView::Error(const std::string& message) const {
  return absl::InvalidArgumentError(absl::StrCat(context_, ": ", message));
}

absl::Status ConfigView::ArgumentError(const std::string& key, const std::string& expected) const {
  const nlohmann::json* v =
      config_.is_object() && config_.contains(key) ? &config_.at(key) : nullptr;
  return Error(absl::StrCat("argument `", key, "` must be ", expected, ". Received: ", key, "=",
                            v ? PythonRepr(*v) : "<missing>"));
}

absl::StatusOr<int64_t> ConfigView::Int(const std::string& key,
                                        std::optional<int64_t> fallback) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return ArgumentError(key, "an integer");
  }
  if (!IsIntegral(*v)) return ArgumentError(key, "an integer");
  return AsInt(*v);
}

absl::StatusOr<int64_t> ConfigView::PositiveInt(const std::string& key,
                                                std::optional<int64_t> fallback) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr && fallback) return *fallback;
  if (v == nullptr || !IsIntegral(*v) || AsInt(*v) <= 0) {
    return ArgumentError(key, "a positive integer");
  }
  return AsInt(*v);
}

absl::StatusOr<double> ConfigView::Float(const std::string& key,
                                         std::optional<double> fallback) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return ArgumentError(key, "a number");
  }
  if (!v->is_number()) return ArgumentError(key, "a number");
  return v->get<double>();
}

absl::StatusOr<bool> ConfigView::Bool(const std::string& key, std::optional<bool> fallback) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return ArgumentError(key, "a boolean");
  }
  if (!v->is_boolean()) return ArgumentError(key, "a boolean");
  return v->get<bool>();
}

absl::StatusOr<std::string> ConfigView::String(const std::string& key,
                                               std::optional<std::string> fallback) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return ArgumentError(key, "a string");
  }
  if (!v->is_string()) return ArgumentError(key, "a string");
  return v->get<std::string>();
}

absl::StatusOr<std::string> ConfigView::Choice(const std::string& key,
                                               const std::vector<std::string>& allowed,
                                               std::optional<std::string> fallback) const {
  const std::string expected = absl::StrCat("one of {'", absl::StrJoin(allowed, "', '"), "'}");
  const nlohmann::json* v = Find(key);
  if (v == nullptr && fallback) return *fallback;
  if (v == nullptr || !v->is_string()) return ArgumentError(key, expected);
  std::string s = Lower(v->get<std::string>());
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
    return ArgumentError(key, expected);
  }
  return s;
}

absl::StatusOr<std::vector<int64_t>> ConfigView::PositiveInts(
    const std::string& key, size_t n, std::optional<std::vector<int64_t>> fallback) const {
  const std::string expected =
      absl::StrCat("a positive integer or a list of ", n, " positive integers");
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return ArgumentError(key, expected);
  }
  if (IsIntegral(*v) && AsInt(*v) > 0) return std::vector<int64_t>(n, AsInt(*v));
  if (!v->is_array() || v->size() != n) return ArgumentError(key, expected);
  std::vector<int64_t> out;
  for (const auto& e : *v) {
    if (!IsIntegral(e) || AsInt(e) <= 0) return ArgumentError(key, expected);
    out.push_back(AsInt(e));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> ConfigView::IntOrInts(
    const std::string& key, std::optional<std::vector<int64_t>> fallback) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return ArgumentError(key, "an integer or a list of integers");
  }
  if (IsIntegral(*v)) return std::vector<int64_t>{AsInt(*v)};
  if (!v->is_array() || v->empty()) return ArgumentError(key, "an integer or a list of integers");
  std::vector<int64_t> out;
  for (const auto& e : *v) {
    if (!IsIntegral(e)) return ArgumentError(key, "an integer or a list of integers");
    out.push_back(AsInt(e));
  }
  return out;
}

absl::StatusOr<DType> ConfigView::LayerDType(const std::string& key) const {
  const nlohmann::json* v = Find(key);
  if (v == nullptr) return DType::kFloat32;
  std::string name;
  if (v->is_string()) {
    name = v->get<std::string>();
  } else if (v->is_object() && v->contains("config") && (*v)["config"].is_object() &&
             (*v)["config"].contains("name") && (*v)["config"]["name"].is_string()) {
    // {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    name = (*v)["config"]["name"].get<std::string>();
  } else {
    return ArgumentError(key, "a dtype name or a DTypePolicy config");
  }
  if (name.rfind("mixed_", 0) == 0) {
    return Error(absl::StrCat("dtype policy '", name,
                              "' is not supported yet; Fornax layers compute in float32"));
  }
  absl::StatusOr<DType> dtype = ParseDType(name);
  if (!dtype.ok()) return ArgumentError(key, "a known dtype");
  return *dtype;
}

absl::StatusOr<Shape> ParseBatchShape(const nlohmann::json& shape, const std::string& what) {
  if (!shape.is_array() || shape.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " must be a list starting with the batch dimension. Received: ", PythonRepr(shape)));
  }
  std::vector<int64_t> dims;
  for (size_t i = 0; i < shape.size(); ++i) {
    const auto& d = shape[i];
    if (d.is_null() && i == 0) {
      dims.push_back(kBatch);
    } else if (IsIntegral(d) && AsInt(d) >= 0) {
      dims.push_back(AsInt(d));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(what,
                       " must hold non-negative integers (only the batch dimension may be None). "
                       "Received: ",
                       ShapeRepr(shape)));
    }
  }
  return Shape(std::move(dims));
}

}  // namespace fornax
