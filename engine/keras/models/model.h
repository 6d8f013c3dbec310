// Model: a Keras 3 model definition (Sequential or Functional) that can emit
// its forward pass as IR.
//
// Built from exactly what `model.to_json()` writes (also the config.json of a
// .keras archive). Parsing refuses unknown classes, Lambda and anything that
// would run user code, and checks shapes between layers; errors name the
// source file, the layer and the field (InvalidArgument).
// Thread-safety: const methods may be called concurrently.
#ifndef FORNAX_ENGINE_KERAS_MODELS_MODEL_H_
#define FORNAX_ENGINE_KERAS_MODELS_MODEL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"
#include "engine/keras/variable_store.h"
#include "nlohmann/json.hpp"

namespace fornax {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;  // dim 0 is kBatch
};

class Layer;

class Model {
 public:
  // `source` names where the JSON came from, for error messages.
  static absl::StatusOr<std::unique_ptr<Model>> FromJson(const nlohmann::json& config,
                                                         std::string_view source);
  static absl::StatusOr<std::unique_ptr<Model>> FromJsonFile(const std::string& path);
  ~Model();

  const std::string& name() const { return name_; }
  const std::string& class_name() const { return class_name_; }  // "Sequential" / "Functional"
  const std::vector<TensorSpec>& inputs() const { return inputs_; }
  const std::vector<TensorSpec>& outputs() const { return outputs_; }  // output layer names

  // Creates every layer's variables in `store`, initialized from the layers'
  // seeded initializers (Keras's initializer configs; `seed` when they have none).
  absl::Status CreateVariables(VariableStore* store, uint64_t seed);

  // Emits the forward pass. `inputs` are values matching inputs(). Appends
  // one value per output, and the scalar regularization losses to `losses`.
  // In training mode Dropout samples masks and BatchNormalization updates its
  // moving statistics (Assign). REQUIRES: CreateVariables succeeded.
  absl::Status Call(Builder& b, std::span<const ValueId> inputs, bool training,
                    std::vector<ValueId>* outputs, std::vector<ValueId>* losses) const;

  // Keras-like summary: layer (type), output shape, params; totals.
  std::string Summary() const;
  int64_t CountParams(bool trainable_only = false) const;
  // The config this model was parsed from (round-trips into .keras archives).
  const nlohmann::json& config() const { return config_; }

 private:
  Model() = default;
  friend class ModelParser;

  std::string name_;
  std::string class_name_;
  nlohmann::json config_;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  struct LayerNode;  // a layer and where its inputs come from (engine/keras/models/model_node.h)
  std::vector<std::unique_ptr<LayerNode>> nodes_;
  // Where each output comes from: (node, output of that node).
  std::vector<std::pair<int, int>> output_refs_;
  bool variables_created_ = false;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_MODELS_MODEL_H_
