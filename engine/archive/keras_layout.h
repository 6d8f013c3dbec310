// Where each model variable lives in model.weights.h5, shared by the
// archive's writer and reader: Keras's saving_lib walks model.layers (the
// config's "layers" order; Sequential leaves out its InputLayer) and names
// each layer's group by class, not by layer name: "layers/dense",
// "layers/dense_1", "layers/batch_normalization", ... Within a group the
// variables are in creation order, which Fornax's layers share with Keras.
#ifndef FORNAX_ENGINE_ARCHIVE_KERAS_LAYOUT_H_
#define FORNAX_ENGINE_ARCHIVE_KERAS_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/models/model.h"
#include "engine/keras/variable_store.h"

namespace fornax {

struct LayerVariables {
  std::string group;             // "layers/dense_1"
  std::string layer_name;        // the layer's own name ("vars" attribute "name")
  std::vector<int64_t> indices;  // store indices, in Keras's order
};

// One entry per layer in Keras's order. Internal when a weight of `store`
// belongs to no layer of the config.
absl::StatusOr<std::vector<LayerVariables>> KerasLayerGroups(const Model& model,
                                                             const VariableStore& store);

// Copies `value` (same shape and dtype) into `variable`'s own buffer, which
// compiled plans may hold on to.
void CopyIntoVariable(const Tensor& value, Tensor& variable);

// Keras's naming.to_snake_case: "BatchNormalization" -> "batch_normalization",
// "Conv2D" -> "conv2d".
std::string KerasSnakeCase(const std::string& class_name);

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_KERAS_LAYOUT_H_
