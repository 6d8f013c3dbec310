#include "engine/job/yaml_json.h"

#include <cmath>
#include <limits>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

}  // namespace

nlohmann::json PlainScalarToJson(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(text, kInt)) {
    int64_t v;
    if (absl::SimpleAtoi(text, &v)) return v;
  }
  if (std::regex_match(text, kFloat)) {
    double v;
    if (absl::SimpleAtod(text, &v)) return v;
  }
  if (text == ".inf" || text == ".Inf" || text == ".INF" || text == "+.inf") {
    return std::numeric_limits<double>::infinity();
  }
  if (text == "-.inf" || text == "-.Inf" || text == "-.INF") {
    return -std::numeric_limits<double>::infinity();
  }
  if (text == ".nan" || text == ".NaN" || text == ".NAN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return text;
}

absl::StatusOr<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& source,
                                          const std::string& field) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nlohmann::json(nullptr);
    case YAML::NodeType::Scalar:
      if (IsQuoted(node)) return nlohmann::json(node.Scalar());
      return PlainScalarToJson(node.Scalar());
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (size_t i = 0; i < node.size(); ++i) {
        FORNAX_ASSIGN_OR_RETURN(nlohmann::json item,
                                YamlToJson(node[i], source, absl::StrCat(field, "[", i, "]")));
        out.push_back(std::move(item));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(absl::StrCat(
              source, ": ", field, ": expected string keys, got ", YamlForMessage(kv.first)));
        }
        const std::string& key = kv.first.Scalar();
        FORNAX_ASSIGN_OR_RETURN(nlohmann::json value,
                                YamlToJson(kv.second, source, absl::StrCat(field, ".", key)));
        out[key] = std::move(value);
      }
      return out;
    }
  }
  return nlohmann::json(nullptr);
}

std::string YamlForMessage(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsScalar()) return node.Scalar();
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

}  // namespace fornax
