// Internal to engine/keras/models: the pieces ModelParser's files share
// (model_parser.cc: Sequential, nesting and the entry point;
// model_functional.cc: the Functional graph).
#ifndef FORNAX_ENGINE_KERAS_MODELS_MODEL_PARSER_INTERNAL_H_
#define FORNAX_ENGINE_KERAS_MODELS_MODEL_PARSER_INTERNAL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"
#include "engine/keras/layers/layer.h"
#include "engine/keras/models/model_node.h"
#include "engine/keras/models/model_parser.h"
#include "nlohmann/json.hpp"

namespace fornax {
namespace model_parser_internal {

// "WHERE: expected EXPECTED, received <json>" as InvalidArgument.
absl::Status Malformed(const std::string& where, const std::string& expected,
                       const nlohmann::json& received);

// One (layer, node, tensor) reference: Keras's keras_history.
struct History {
  std::string layer;
  int node = 0;
  int tensor = 0;
};

absl::StatusOr<History> ParseHistory(const nlohmann::json& v, const std::string& where);
// The tensors an inbound node passes to its layer (Keras 3 or Keras 2 form).
// `with_constants`: the node calls a Keras operation, whose Python scalar
// arguments are skipped here (the operation binds them).
absl::StatusOr<std::vector<History>> InboundTensors(const nlohmann::json& inbound,
                                                    const std::string& where, bool with_constants);
absl::StatusOr<TensorSpec> ParseInputLayer(const nlohmann::json& layer_json);
bool IsModelClass(const std::string& class_name);
std::string ClassName(const nlohmann::json& layer_json);  // "" when absent
std::string LayerName(const nlohmann::json& layer_json);
// REQUIRES: not a model class.
absl::StatusOr<std::shared_ptr<Layer>> MakeLayer(const nlohmann::json& layer_json);
// A Sequential or Functional used as a layer, parsed on its own.
absl::StatusOr<std::unique_ptr<Model>> ParseNested(const nlohmann::json& layer_json);

}  // namespace model_parser_internal

// Appends nodes to a Model, building each layer on first use and tracing
// shapes on a scratch graph.
class ModelParser::NodeBuilder {
 public:
  explicit NodeBuilder(Model* model) : model_(model), builder_(&graph_) {}
  Model* model() const { return model_; }

  // Adds model input #inputs().size(); returns its node.
  int AddInput(TensorSpec spec, const std::string& layer_name, bool in_summary, int config_index);
  // Adds a call of `layer` on `inputs` ((node, output) refs); returns its node.
  absl::StatusOr<int> AddCall(const std::shared_ptr<Layer>& layer, const nlohmann::json& layer_json,
                              std::vector<std::pair<int, int>> inputs, int64_t call_index,
                              int config_index);

 private:
  Model* model_;
  Graph graph_;
  Builder builder_;
  std::vector<std::vector<ValueId>> values_;  // per node
  int64_t next_weight_ = 0;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_MODELS_MODEL_PARSER_INTERNAL_H_
