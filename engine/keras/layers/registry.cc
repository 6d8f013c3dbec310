#include "engine/keras/layers/registry.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

const std::map<std::string, LayerFactory>& Factories() {
  static const auto* factories = new std::map<std::string, LayerFactory>{
      {"Dense", MakeDense},
      {"Activation", MakeActivation},
      {"ReLU", MakeReLU},
      {"LeakyReLU", MakeLeakyReLU},
      {"Softmax", MakeSoftmax},
      {"Dropout", MakeDropout},
      {"Flatten", MakeFlatten},
      {"Reshape", MakeReshape},
      {"Rescaling", MakeRescaling},
      {"Add", MakeMerge},
      {"Subtract", MakeMerge},
      {"Multiply", MakeMerge},
      {"Concatenate", MakeConcatenate},
      {"Conv2D", MakeConv2D},
      {"MaxPooling2D", MakePooling2D},
      {"AveragePooling2D", MakePooling2D},
      {"GlobalAveragePooling2D", MakeGlobalAveragePooling2D},
      {"BatchNormalization", MakeBatchNormalization},
      {"LayerNormalization", MakeLayerNormalization},
      {"Embedding", MakeEmbedding},
  };
  return *factories;
}

// Keras layers whose whole purpose is to run foreign code.
bool RunsUserCode(const std::string& class_name) {
  return class_name == "Lambda" || class_name == "TFSMLayer" ||
         class_name == "TorchModuleWrapper" || class_name == "JaxLayer" ||
         class_name == "FlaxLayer";
}

}  // namespace

std::vector<std::string> SupportedLayerClasses() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : Factories()) names.push_back(name);
  return names;
}

absl::StatusOr<std::unique_ptr<Layer>> CreateLayer(const nlohmann::json& layer_json) {
  if (!layer_json.is_object() || !layer_json.contains("class_name") ||
      !layer_json["class_name"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a layer object with a string \"class_name\"; received ",
                     layer_json.dump().substr(0, 120)));
  }
  const std::string class_name = layer_json["class_name"].get<std::string>();
  if (!layer_json.contains("config") || !layer_json["config"].is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("layer of class '", class_name, "' has no \"config\" object"));
  }
  const nlohmann::json& config = layer_json["config"];
  std::string name = class_name;
  if (config.contains("name") && config["name"].is_string()) {
    name = config["name"].get<std::string>();
  } else if (layer_json.contains("name") && layer_json["name"].is_string()) {
    name = layer_json["name"].get<std::string>();
  }
  if (RunsUserCode(class_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("refused: layer '", name, "' is a ", class_name,
                     " layer, which runs arbitrary Python; Fornax never executes user code"));
  }
  const nlohmann::json registered = Field(layer_json, "registered_name");
  if (registered.is_string() && registered.get<std::string>().find('>') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "refused: layer '", name, "' is the custom layer '", registered.get<std::string>(),
        "', whose code is Python; Fornax never executes user code"));
  }
  auto it = Factories().find(class_name);
  if (it == Factories().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown layer class '", class_name, "' (layer '", name,
                     "'); supported: ", absl::StrJoin(SupportedLayerClasses(), ", ")));
  }
  ConfigView cfg(config, absl::StrCat("layer '", name, "'"));
  LayerCommon common;
  common.class_name = class_name;
  common.name = name;
  FORNAX_ASSIGN_OR_RETURN(common.trainable, cfg.Bool("trainable", true));
  FORNAX_ASSIGN_OR_RETURN(common.dtype, cfg.LayerDType());
  FORNAX_ASSIGN_OR_RETURN(
      common.activity_regularizer,
      GetRegularizer(Field(config, "activity_regularizer"),
                     absl::StrCat(cfg.context(), ": argument `activity_regularizer`")));
  return it->second(cfg, std::move(common));
}

}  // namespace fornax
