// Model::LayerNode: one call of a layer inside a Model (internal to
// engine/keras/models; Model and ModelParser share it).
//
// A layer called twice (a shared layer) has two nodes holding the same
// Layer; a model input is a node without a layer.
#ifndef FORNAX_ENGINE_KERAS_MODELS_MODEL_NODE_H_
#define FORNAX_ENGINE_KERAS_MODELS_MODEL_NODE_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/keras/layers/layer.h"
#include "engine/keras/models/model.h"

namespace fornax {

struct Model::LayerNode {
  std::shared_ptr<Layer> layer;             // null for a model input
  int input_index = -1;                     // model input # when layer is null
  std::string name;                         // the layer (or InputLayer) name
  std::string class_name;                   // "Dense", "InputLayer"
  std::vector<std::pair<int, int>> inputs;  // (node, output of that node)
  int64_t call_index = 0;                   // 0 for a layer's first call
  // layer(x, training=True/False) in the model definition fixes the mode.
  std::optional<bool> training;
  std::vector<TensorSpec> outputs;  // inferred when parsing
  int config_index = 0;             // position in the config's layer list (Summary order)
  bool in_summary = true;           // Sequential models do not list their InputLayer
  // Set on nodes inlined from a nested model (a Sequential or Functional used
  // as a layer): the summary shows that model as one row.
  std::string group;                      // the nested model's name
  std::string group_class;                // "Sequential" / "Functional"
  std::vector<TensorSpec> group_outputs;  // on the group's first node
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_MODELS_MODEL_NODE_H_
