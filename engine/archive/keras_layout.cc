// Keras's h5 group naming (saving_lib._walk_saveable) for a Fornax model.
#include "engine/archive/keras_layout.h"

#include <cctype>
#include <cstring>
#include <map>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/keras/layers/operation.h"

namespace fornax {

std::string KerasSnakeCase(const std::string& class_name) {
  static const std::regex kNonWord(R"(\W+)");
  static const std::regex kBeforeWord("(.)([A-Z][a-z]+)");
  static const std::regex kLowerUpper("([a-z])([A-Z])");
  std::string name = std::regex_replace(class_name, kNonWord, "");
  name = std::regex_replace(name, kBeforeWord, "$1_$2");
  name = std::regex_replace(name, kLowerUpper, "$1_$2");
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

void CopyIntoVariable(const Tensor& value, Tensor& variable) {
  std::memcpy(variable.raw_data(), value.raw_data(), value.byte_size());
}

namespace {

// A layer entry's name as the layer registry picks it: config.name, else
// the entry's own "name", else its class name.
std::string LayerName(const nlohmann::json& layer, const std::string& class_name) {
  const nlohmann::json* config = layer.contains("config") ? &layer["config"] : nullptr;
  if (config != nullptr && config->is_object() && config->contains("name") &&
      (*config)["name"].is_string()) {
    return (*config)["name"].get<std::string>();
  }
  if (layer.contains("name") && layer["name"].is_string()) return layer["name"].get<std::string>();
  return class_name;
}

}  // namespace

absl::StatusOr<std::vector<LayerVariables>> KerasLayerGroups(const Model& model,
                                                             const VariableStore& store) {
  // The model parsed this config, so it is well formed; the checks keep a
  // surprise an error instead of an exception.
  const nlohmann::json& root = model.config();
  const nlohmann::json* layers = nullptr;
  if (root.is_object() && root.contains("config") && root["config"].is_object() &&
      root["config"].contains("layers") && root["config"]["layers"].is_array()) {
    layers = &root["config"]["layers"];
  }
  if (layers == nullptr) {
    return absl::InvalidArgumentError("the model's config has no \"layers\" list");
  }
  const bool sequential = model.class_name() == "Sequential";
  std::map<std::string, int> used_names;  // per container, as _walk_saveable counts
  std::set<int64_t> placed;
  std::vector<LayerVariables> groups;
  for (const nlohmann::json& layer : *layers) {
    if (!layer.is_object() || !layer.contains("class_name") || !layer["class_name"].is_string()) {
      return absl::InvalidArgumentError("the model's config has a layer without a class_name");
    }
    const std::string class_name = layer["class_name"].get<std::string>();
    if (sequential && class_name == "InputLayer") continue;  // not in Sequential.layers
    LayerVariables entry;
    entry.layer_name = LayerName(layer, class_name);
    std::string name = KerasSnakeCase(class_name);
    auto [it, first] = used_names.try_emplace(name, 0);
    if (!first) name = absl::StrCat(name, "_", ++it->second);
    entry.group = absl::StrCat("layers/", name);
    const std::string prefix = entry.layer_name + "/";
    for (int64_t i = 0; i < store.size(); ++i) {
      if (store.info(i).kind == VariableKind::kWeight &&
          absl::StartsWith(store.info(i).path, prefix)) {
        entry.indices.push_back(i);
        placed.insert(i);
      }
    }
    groups.push_back(std::move(entry));
  }
  for (int64_t i = 0; i < store.size(); ++i) {
    if (store.info(i).kind == VariableKind::kWeight && !placed.count(i)) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.weights.h5: variable '", store.info(i).path,
                       "' belongs to no layer of the model's config"));
    }
  }
  return groups;
}

}  // namespace fornax
