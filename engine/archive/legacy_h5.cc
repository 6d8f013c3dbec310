// ReadLegacyH5 / LoadLegacyWeights: the legacy full-model .h5 read through
// H5Reader, the model built from model_config like a .keras config.json.
#include "engine/archive/legacy_h5.h"

#include <iostream>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/archive/keras_layout.h"
#include "engine/base/status_macros.h"
#include "engine/keras/optimizers/optimizer.h"

namespace fornax {
namespace {

// A list attribute as Keras's load_attributes_from_hdf5_group reads it:
// `key`, or when that is missing the chunks `key0`, `key1`, ... that Keras
// writes for lists over HDF5's 64 KB object header limit.
absl::StatusOr<std::vector<std::string>> ReadKerasList(const H5Reader& h5, const std::string& path,
                                                       const std::string& key) {
  absl::StatusOr<std::vector<std::string>> whole = h5.ReadStringsAttribute(path, key);
  if (!absl::IsNotFound(whole.status())) return whole;
  std::vector<std::string> out;
  for (int chunk = 0;; ++chunk) {
    absl::StatusOr<std::vector<std::string>> part =
        h5.ReadStringsAttribute(path, absl::StrCat(key, chunk));
    if (absl::IsNotFound(part.status())) return chunk == 0 ? whole : out;
    FORNAX_RETURN_IF_ERROR(part.status());
    out.insert(out.end(), part->begin(), part->end());
  }
}

// The JSON object in string attribute `key` of the file's root.
absl::StatusOr<nlohmann::json> JsonAttribute(const H5Reader& h5, const std::string& path,
                                             const std::string& key) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<std::string> text, h5.ReadStringsAttribute("/", key));
  nlohmann::json value = text.size() == 1
                             ? nlohmann::json::parse(text[0], nullptr, /*allow_exceptions=*/false)
                             : nlohmann::json(nlohmann::json::value_t::discarded);
  if (value.is_discarded() || !value.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the '", key, "' attribute is not a JSON object"));
  }
  return value;
}

// model_config leaves "module" and "registered_name" out of the model's and
// its layers' envelopes, which Keras 3's .keras loader needs to find the
// classes: put in what Keras 3 writes for its own classes, so a model read
// from a legacy file saves as a .keras that Keras loads.
void AddKerasEnvelopes(nlohmann::json& model) {
  const nlohmann::json& class_name = model["class_name"];
  const bool functional = !(class_name.is_string() && class_name == "Sequential");
  if (!model.contains("module")) {
    model["module"] = functional ? "keras.src.models.functional" : "keras";
    model["registered_name"] = functional ? nlohmann::json("Functional") : nlohmann::json();
  }
  if (!model.contains("config") || !model["config"].is_object()) return;
  nlohmann::json& layers = model["config"]["layers"];
  if (!layers.is_array()) return;
  for (nlohmann::json& layer : layers) {
    if (layer.is_object() && !layer.contains("module")) {
      layer["module"] = "keras.layers";
      layer["registered_name"] = nullptr;
    }
  }
}

// training_config -> the compile_config a .keras archive would hold. tf.keras
// 2.11+ optimizer configs carry keys Keras 3 dropped; they are left out.
nlohmann::json CompileConfigFrom(const nlohmann::json& training) {
  nlohmann::json compile = nlohmann::json::object();
  if (training.contains("optimizer_config")) {
    nlohmann::json optimizer = training["optimizer_config"];
    if (optimizer.is_object() && optimizer.contains("config") && optimizer["config"].is_object()) {
      for (const char* key : {"is_legacy_optimizer", "jit_compile"}) optimizer["config"].erase(key);
    }
    compile["optimizer"] = std::move(optimizer);
  }
  for (const char* key :
       {"loss", "loss_weights", "metrics", "weighted_metrics", "steps_per_execution"}) {
    if (training.contains(key)) compile[key] = training[key];
  }
  return compile;
}

// "optimizer_weights" matches the optimizer when it lists one dataset per
// optimizer variable, in Keras 3's order (the names end alike) and shapes.
absl::StatusOr<std::vector<Tensor>> ReadOptimizerState(const H5Reader& h5,
                                                       const VariableStore& store,
                                                       const std::vector<int64_t>& variables) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<std::string> names,
                          ReadKerasList(h5, "optimizer_weights", "weight_names"));
  if (names.size() != variables.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "it lists ", names.size(), " variables, the optimizer has ", variables.size()));
  }
  std::vector<Tensor> values;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& path = store.info(variables[i]).path;
    const std::string own = path.substr(path.rfind('/') + 1);  // "dense_kernel_momentum"
    if (!absl::EndsWith(names[i], own)) {
      return absl::InvalidArgumentError(
          absl::StrCat("variable ", i, " is '", names[i], "', expected '", path, "'"));
    }
    FORNAX_ASSIGN_OR_RETURN(Tensor value,
                            h5.ReadVariable(absl::StrCat("optimizer_weights/", names[i]), path,
                                            store.value(variables[i])));
    values.push_back(std::move(value));
  }
  return values;
}

}  // namespace

absl::StatusOr<KerasArchive> ReadLegacyH5(std::string image, const std::string& path) {
  KerasArchive archive;
  FORNAX_ASSIGN_OR_RETURN(archive.weights, H5Reader::Open(std::move(image), path));
  const H5Reader& h5 = *archive.weights;
  absl::StatusOr<nlohmann::json> model = JsonAttribute(h5, path, "model_config");
  if (absl::IsNotFound(model.status())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": an HDF5 file without a 'model_config' attribute: weights only (save_weights), "
        "not a whole model saved with model.save(\"x.h5\")"));
  }
  FORNAX_RETURN_IF_ERROR(model.status());
  archive.config = *std::move(model);
  AddKerasEnvelopes(archive.config);
  archive.config["compile_config"] = nlohmann::json::object();
  absl::StatusOr<nlohmann::json> training = JsonAttribute(h5, path, "training_config");
  if (training.ok()) {
    archive.config["compile_config"] = CompileConfigFrom(*training);
  } else if (!absl::IsNotFound(training.status())) {
    return training.status();
  }
  archive.legacy_h5 = true;
  return archive;
}

absl::Status LoadLegacyWeights(const KerasArchive& archive, const std::string& path,
                               Trainer& trainer) {
  const H5Reader& h5 = *archive.weights;
  VariableStore& store = trainer.variables();
  FORNAX_ASSIGN_OR_RETURN(std::vector<LayerVariables> layers,
                          KerasLayerGroups(trainer.model(), store));
  FORNAX_ASSIGN_OR_RETURN(std::vector<std::string> saved_layers,
                          ReadKerasList(h5, "model_weights", "layer_names"));
  const std::set<std::string> saved(saved_layers.begin(), saved_layers.end());
  std::set<std::string> model_layers;
  for (const LayerVariables& layer : layers) {
    model_layers.insert(layer.layer_name);
    if (layer.indices.empty()) continue;
    std::vector<std::string> expected;
    for (int64_t i : layer.indices) expected.push_back(store.info(i).path);
    const std::string group = absl::StrCat("model_weights/", layer.layer_name);
    if (!saved.count(layer.layer_name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": ", group, ": the file has no weights for layer '", layer.layer_name,
          "' (expected ", expected.size(), " variables [", absl::StrJoin(expected, ", "), "])"));
    }
    FORNAX_ASSIGN_OR_RETURN(std::vector<std::string> names,
                            ReadKerasList(h5, group, "weight_names"));
    if (names.size() != layer.indices.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": ", group, ": layer '", layer.layer_name, "' expected ", expected.size(),
          " variables [", absl::StrJoin(expected, ", "), "], but weight_names lists ", names.size(),
          " [", absl::StrJoin(names, ", "), "]"));
    }
    for (size_t i = 0; i < names.size(); ++i) {
      Tensor& variable = store.value(layer.indices[i]);
      FORNAX_ASSIGN_OR_RETURN(
          Tensor value, h5.ReadVariable(absl::StrCat(group, "/", names[i]), expected[i], variable));
      CopyIntoVariable(value, variable);
    }
  }
  for (const std::string& name : saved_layers) {
    if (model_layers.count(name)) continue;
    const std::string group = absl::StrCat("model_weights/", name);
    FORNAX_ASSIGN_OR_RETURN(std::vector<std::string> names,
                            ReadKerasList(h5, group, "weight_names"));
    if (!names.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", group, ": weights [", absl::StrJoin(names, ", "), "] of layer '",
                       name, "', which the model_config does not have"));
    }
  }

  // The optimizer's state: optional, as Keras's own legacy loader treats it.
  const Optimizer& optimizer = trainer.optimizer();
  const bool compiled = !archive.config["compile_config"].empty();
  if (!h5.Exists("optimizer_weights")) {
    if (compiled) {
      std::cerr << "fornax: warning: " << path << ": the file has no optimizer state; optimizer '"
                << optimizer.name() << "' starts fresh\n";
    }
    return absl::OkStatus();
  }
  const std::vector<int64_t> variables = optimizer.keras_variables();
  absl::StatusOr<std::vector<Tensor>> state = ReadOptimizerState(h5, store, variables);
  if (!state.ok()) {
    std::cerr << "fornax: warning: " << path << ": optimizer_weights does not match optimizer '"
              << optimizer.name() << "' (" << state.status().message()
              << "); the optimizer starts fresh\n";
    return absl::OkStatus();
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    CopyIntoVariable((*state)[i], store.value(variables[i]));
  }
  return absl::OkStatus();
}

}  // namespace fornax
