// ModelParser: Keras 3 model JSON (Sequential or Functional) -> Model.
//
// Internal to Model::FromJson. Builds every layer from its config, wires the
// Functional graph from the layers' inbound_nodes (Keras 3's
// {"args": [...__keras_tensor__...], "kwargs": {...}} form, merge layers
// taking a list), honours each layer's build_config as Keras's
// deserialization does, and infers output shapes by emitting IR on symbolic
// inputs, so incompatible shapes are found here with the layer named.
// Thread-safety: stateless.
#ifndef FORNAX_ENGINE_KERAS_MODELS_MODEL_PARSER_H_
#define FORNAX_ENGINE_KERAS_MODELS_MODEL_PARSER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/models/model.h"
#include "nlohmann/json.hpp"

namespace fornax {

class ModelParser {
 public:
  // Errors are InvalidArgument without the source prefix (the caller adds it).
  static absl::StatusOr<std::unique_ptr<Model>> Parse(const nlohmann::json& config);

 private:
  class NodeBuilder;       // appends nodes to a Model, tracing shapes
  class FunctionalParser;  // resolves inbound_nodes depth first
  static absl::Status ParseFunctional(const nlohmann::json& config, Model* model,
                                      std::vector<std::string>* output_names);
  static absl::Status ParseSequential(const nlohmann::json& config, const nlohmann::json& top,
                                      Model* model);
  // Inlines `inner` (a parsed nested model) into the model `nb` builds,
  // wired to `inputs`; returns the refs of its outputs.
  static absl::StatusOr<std::vector<std::pair<int, int>>> Inline(
      NodeBuilder& nb, const Model& inner, const std::vector<std::pair<int, int>>& inputs,
      int64_t call_index, int config_index);
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_MODELS_MODEL_PARSER_H_
