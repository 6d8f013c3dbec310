// ModelParser's Functional half: the layer graph from inbound_nodes,
// resolved depth first from the outputs.
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/operation.h"
#include "engine/keras/models/model_parser_internal.h"

namespace fornax {

using model_parser_internal::ClassName;
using model_parser_internal::History;
using model_parser_internal::InboundTensors;
using model_parser_internal::IsModelClass;
using model_parser_internal::LayerName;
using model_parser_internal::MakeLayer;
using model_parser_internal::Malformed;
using model_parser_internal::ParseHistory;
using model_parser_internal::ParseInputLayer;
using model_parser_internal::ParseNested;
using nlohmann::json;

class ModelParser::FunctionalParser {
 public:
  FunctionalParser(const json& config, Model* model) : config_(config), model_(model), mb_(model) {}

  absl::Status Parse() {
    if (!config_.contains("layers") || !config_["layers"].is_array()) {
      return Malformed("Functional config", "a \"layers\" list", Field(config_, "layers"));
    }
    const json& layers = config_["layers"];
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string name = LayerName(layers[i]);
      if (name.empty())
        return Malformed(absl::StrCat("layers[", i, "]"), "a named layer", layers[i]);
      if (!by_name_.emplace(name, i).second) {
        return absl::InvalidArgumentError(absl::StrCat("two layers are named '", name, "'"));
      }
    }
    FORNAX_ASSIGN_OR_RETURN(auto inputs, Endpoints("input_layers"));
    for (const auto& [key, h] : inputs) {
      auto it = by_name_.find(h.layer);
      if (it == by_name_.end() || Field(layers[it->second], "class_name") != "InputLayer") {
        return absl::InvalidArgumentError(absl::StrCat(
            "input_layers names '", h.layer, "', which is not an InputLayer of this model"));
      }
      FORNAX_ASSIGN_OR_RETURN(TensorSpec spec, ParseInputLayer(layers[it->second]));
      if (!key.empty()) spec.name = key;
      const int node =
          mb_.AddInput(std::move(spec), h.layer, /*in_summary=*/true, static_cast<int>(it->second));
      resolved_[{h.layer, 0}] = {{node, 0}};
    }
    FORNAX_ASSIGN_OR_RETURN(auto outputs, Endpoints("output_layers"));
    for (const auto& [key, h] : outputs) {
      FORNAX_ASSIGN_OR_RETURN(std::vector<Ref> refs, Resolve(h.layer, h.node));
      if (h.tensor >= static_cast<int>(refs.size())) {
        return absl::InvalidArgumentError(absl::StrCat("output_layers: layer '", h.layer, "' has ",
                                                       refs.size(), " outputs; tensor_index ",
                                                       h.tensor, " does not exist"));
      }
      model_->output_refs_.push_back(refs[static_cast<size_t>(h.tensor)]);
      output_names_.push_back(key.empty() ? h.layer : key);
    }
    return absl::OkStatus();
  }

  const std::vector<std::string>& output_names() const { return output_names_; }

 private:
  // input_layers / output_layers: [name, node, tensor], a list of those, or a
  // dict {key: [name, node, tensor]} (keys sorted, as Keras flattens dicts).
  absl::StatusOr<std::vector<std::pair<std::string, History>>> Endpoints(const std::string& field) {
    const json& v = Field(config_, field);
    std::vector<std::pair<std::string, History>> out;
    if (v.is_object()) {
      for (const auto& [key, triple] : v.items()) {
        FORNAX_ASSIGN_OR_RETURN(History h,
                                ParseHistory(triple, absl::StrCat(field, "['", key, "']")));
        out.emplace_back(key, std::move(h));
      }
    } else if (v.is_array() && !v.empty() && v[0].is_string()) {
      FORNAX_ASSIGN_OR_RETURN(History h, ParseHistory(v, field));
      out.emplace_back("", std::move(h));
    } else if (v.is_array() && !v.empty()) {
      for (size_t i = 0; i < v.size(); ++i) {
        FORNAX_ASSIGN_OR_RETURN(History h, ParseHistory(v[i], absl::StrCat(field, "[", i, "]")));
        out.emplace_back("", std::move(h));
      }
    } else {
      return Malformed(field, "[layer_name, node_index, tensor_index], a list or a dict of them",
                       v);
    }
    return out;
  }

  using Ref = std::pair<int, int>;  // (node, output)

  // The outputs of call `node_index` of `layer_name`, creating it (and what
  // it depends on) on first use.
  absl::StatusOr<std::vector<Ref>> Resolve(const std::string& layer_name, int node_index) {
    auto done = resolved_.find({layer_name, node_index});
    if (done != resolved_.end()) return done->second;
    auto it = by_name_.find(layer_name);
    if (it == by_name_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("a keras_history refers to layer '",
                                                     layer_name, "', which the model lacks"));
    }
    const json& layer_json = config_["layers"][it->second];
    if (Field(layer_json, "class_name") == "InputLayer") {
      return absl::InvalidArgumentError(
          absl::StrCat("InputLayer '", layer_name, "' is used but is not listed in input_layers"));
    }
    if (!visiting_.insert({layer_name, node_index}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("the model graph has a cycle through layer '", layer_name, "'"));
    }
    const json& inbound = Field(layer_json, "inbound_nodes");
    const std::string where =
        absl::StrCat("layer '", layer_name, "' inbound_nodes[", node_index, "]");
    if (!inbound.is_array() || node_index >= static_cast<int>(inbound.size())) {
      return Malformed(
          where, absl::StrCat("an inbound_nodes list with at least ", node_index + 1, " entries"),
          inbound);
    }
    FORNAX_ASSIGN_OR_RETURN(std::vector<History> refs,
                            InboundTensors(inbound[static_cast<size_t>(node_index)], where,
                                           IsKerasOperation(layer_json)));
    std::vector<Ref> inputs;
    for (const History& h : refs) {
      FORNAX_ASSIGN_OR_RETURN(std::vector<Ref> outs, Resolve(h.layer, h.node));
      if (h.tensor >= static_cast<int>(outs.size())) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": layer '", h.layer, "' has no output ", h.tensor));
      }
      inputs.push_back(outs[static_cast<size_t>(h.tensor)]);
    }
    std::vector<Ref> outputs;
    if (IsModelClass(ClassName(layer_json))) {
      std::unique_ptr<Model>& inner = nested_[layer_name];
      if (inner == nullptr) {
        FORNAX_ASSIGN_OR_RETURN(inner, ParseNested(layer_json));
      }
      FORNAX_ASSIGN_OR_RETURN(
          outputs, Inline(mb_, *inner, inputs, node_index, static_cast<int>(it->second)));
    } else {
      std::shared_ptr<Layer>& layer = layers_[layer_name];
      if (layer == nullptr) {
        FORNAX_ASSIGN_OR_RETURN(layer, MakeLayer(layer_json));
      }
      FORNAX_ASSIGN_OR_RETURN(int node, mb_.AddCall(layer, layer_json, std::move(inputs),
                                                    node_index, static_cast<int>(it->second)));
      const json& call = inbound[static_cast<size_t>(node_index)];
      if (call.is_object() && call.contains("kwargs") && call["kwargs"].is_object() &&
          call["kwargs"].contains("training") && call["kwargs"]["training"].is_boolean()) {
        model_->nodes_[static_cast<size_t>(node)]->training =
            call["kwargs"]["training"].get<bool>();
      }
      for (size_t o = 0; o < model_->nodes_[static_cast<size_t>(node)]->outputs.size(); ++o) {
        outputs.push_back({node, static_cast<int>(o)});
      }
    }
    visiting_.erase({layer_name, node_index});
    resolved_[{layer_name, node_index}] = outputs;
    return outputs;
  }

  const json& config_;
  Model* model_;
  NodeBuilder mb_;
  std::map<std::string, size_t> by_name_;
  std::map<std::string, std::shared_ptr<Layer>> layers_;
  std::map<std::string, std::unique_ptr<Model>> nested_;
  std::map<std::pair<std::string, int>, std::vector<Ref>> resolved_;
  std::set<std::pair<std::string, int>> visiting_;
  std::vector<std::string> output_names_;
};

absl::Status ModelParser::ParseFunctional(const json& config, Model* model,
                                          std::vector<std::string>* output_names) {
  FunctionalParser parser(config, model);
  FORNAX_RETURN_IF_ERROR(parser.Parse());
  *output_names = parser.output_names();
  return absl::OkStatus();
}

}  // namespace fornax
