#include "engine/keras/models/model_parser.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"
#include "engine/base/status_macros.h"
#include "engine/keras/config_util.h"
#include "engine/keras/layers/operation.h"
#include "engine/keras/layers/registry.h"
#include "engine/keras/models/model_node.h"
#include "engine/keras/models/model_parser_internal.h"

namespace fornax {

using nlohmann::json;

namespace model_parser_internal {

absl::Status Malformed(const std::string& where, const std::string& expected,
                       const json& received) {
  std::string text = received.dump();
  if (text.size() > 120) text = text.substr(0, 117) + "...";
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": expected ", expected, ", received ", text));
}

absl::StatusOr<History> ParseHistory(const json& v, const std::string& where) {
  if (!v.is_array() || v.size() < 3 || !v[0].is_string() || !v[1].is_number_integer() ||
      !v[2].is_number_integer() || v[1].get<int>() < 0 || v[2].get<int>() < 0) {
    return Malformed(where, "[layer_name, node_index, tensor_index]", v);
  }
  return History{v[0].get<std::string>(), v[1].get<int>(), v[2].get<int>()};
}

// Collects the tensors of an inbound node's args, in order. Keras 3 writes
// {"class_name": "__keras_tensor__", "config": {"keras_history": [...]}}.
// An operation's other arguments (`with_constants`) are the operation's own
// to bind or refuse.
static absl::Status CollectTensors(const json& v, const std::string& where, bool with_constants,
                                   std::vector<History>* out) {
  if (v.is_array()) {
    for (const json& e : v) {
      FORNAX_RETURN_IF_ERROR(CollectTensors(e, where, with_constants, out));
    }
    return absl::OkStatus();
  }
  const bool tensor = v.is_object() && Field(v, "class_name") == "__keras_tensor__";
  if (with_constants && !tensor) return absl::OkStatus();
  if (tensor) {
    if (!v.contains("config") || !v["config"].is_object() ||
        !v["config"].contains("keras_history")) {
      return Malformed(where, "a __keras_tensor__ with config.keras_history", v);
    }
    FORNAX_ASSIGN_OR_RETURN(History h, ParseHistory(v["config"]["keras_history"], where));
    out->push_back(std::move(h));
    return absl::OkStatus();
  }
  return Malformed(where,
                   "layer inputs that are Keras tensors (constant arguments are not "
                   "supported)",
                   v);
}

absl::StatusOr<std::vector<History>> InboundTensors(const json& inbound, const std::string& where,
                                                    bool with_constants) {
  std::vector<History> refs;
  if (inbound.is_object()) {  // Keras 3
    if (!inbound.contains("args") || !inbound["args"].is_array()) {
      return Malformed(where, "an inbound node {\"args\": [...], \"kwargs\": {...}}", inbound);
    }
    FORNAX_RETURN_IF_ERROR(CollectTensors(inbound["args"], where, with_constants, &refs));
    if (inbound.contains("kwargs") && inbound["kwargs"].is_object()) {
      for (const auto& [key, value] : inbound["kwargs"].items()) {
        if (value.is_null() || key == "training") continue;
        if (value.is_boolean() || value.is_number() || value.is_string()) continue;
        return Malformed(absl::StrCat(where, " kwargs['", key, "']"),
                         "no tensor keyword arguments (masks are not supported)", value);
      }
    }
  } else if (inbound.is_array()) {  // Keras 2: [[name, node, tensor, kwargs], ...]
    for (const json& e : inbound) {
      FORNAX_ASSIGN_OR_RETURN(History h, ParseHistory(e, where));
      refs.push_back(std::move(h));
    }
  } else {
    return Malformed(where, "an inbound node object", inbound);
  }
  if (refs.empty()) return Malformed(where, "at least one input tensor", inbound);
  return refs;
}

absl::StatusOr<TensorSpec> ParseInputLayer(const json& layer_json) {
  const json& config = Field(layer_json, "config");
  std::string name = LayerName(layer_json);
  if (name.empty()) name = "input";
  ConfigView cfg(config, absl::StrCat("layer '", name, "' (InputLayer)"));
  const json* shape = cfg.Find("batch_shape");
  if (shape == nullptr) shape = cfg.Find("batch_input_shape");  // Keras 2
  if (shape == nullptr) return cfg.ArgumentError("batch_shape", "a list such as [None, 784]");
  FORNAX_ASSIGN_OR_RETURN(bool sparse, cfg.Bool("sparse", false));
  FORNAX_ASSIGN_OR_RETURN(bool ragged, cfg.Bool("ragged", false));
  if (sparse || ragged) return cfg.Error("sparse and ragged inputs are not supported");
  TensorSpec spec;
  spec.name = name;
  FORNAX_ASSIGN_OR_RETURN(spec.shape,
                          ParseBatchShape(*shape, cfg.context() + ": argument `batch_shape`"));
  // Plans are compiled for a symbolic batch; a fixed batch size in the
  // config is treated as "any batch".
  spec.shape.mutable_dims()[0] = kBatch;
  FORNAX_ASSIGN_OR_RETURN(spec.dtype, cfg.LayerDType());
  return spec;
}

std::string ClassName(const json& layer_json) {
  if (layer_json.is_object() && layer_json.contains("class_name") &&
      layer_json["class_name"].is_string()) {
    return layer_json["class_name"].get<std::string>();
  }
  return "";
}

bool IsModelClass(const std::string& c) {
  return c == "Sequential" || c == "Functional" || c == "Model";
}

std::string LayerName(const json& layer_json) {
  if (layer_json.is_object() && layer_json.contains("config") && layer_json["config"].is_object() &&
      layer_json["config"].contains("name") && layer_json["config"]["name"].is_string()) {
    return layer_json["config"]["name"].get<std::string>();
  }
  if (layer_json.is_object() && layer_json.contains("name") && layer_json["name"].is_string()) {
    return layer_json["name"].get<std::string>();
  }
  return "";
}

absl::StatusOr<std::shared_ptr<Layer>> MakeLayer(const json& layer_json) {
  const std::string class_name = Field(layer_json, "class_name").is_string()
                                     ? layer_json["class_name"].get<std::string>()
                                     : "";
  FORNAX_CHECK(!IsModelClass(class_name));
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Layer> layer, IsKerasOperation(layer_json)
                                                            ? CreateOperation(layer_json)
                                                            : CreateLayer(layer_json));
  return std::shared_ptr<Layer>(std::move(layer));
}

// A Sequential or Functional used as a layer, parsed on its own.
absl::StatusOr<std::unique_ptr<Model>> ParseNested(const json& layer_json) {
  absl::StatusOr<std::unique_ptr<Model>> inner = ModelParser::Parse(layer_json);
  if (!inner.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("in nested model '", LayerName(layer_json), "': ", inner.status().message()));
  }
  return inner;
}

}  // namespace model_parser_internal

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

int ModelParser::NodeBuilder::AddInput(TensorSpec spec, const std::string& layer_name,
                                       bool in_summary, int config_index) {
  auto node = std::make_unique<Model::LayerNode>();
  node->input_index = static_cast<int>(model_->inputs_.size());
  node->name = layer_name;
  node->class_name = "InputLayer";
  node->in_summary = in_summary;
  node->config_index = config_index;
  node->outputs = {spec};
  values_.push_back({builder_.Input(node->input_index, spec.dtype, spec.shape, spec.name)});
  model_->inputs_.push_back(std::move(spec));
  model_->nodes_.push_back(std::move(node));
  return static_cast<int>(model_->nodes_.size()) - 1;
}

namespace {

// Keras builds a deserialized layer from its build_config before calling it,
// so a config whose shapes disagree fails on the call. Falls back to the
// actual inputs when build_config is absent or not a plain shape.
std::vector<TensorSpec> BuildConfigSpecs(const json& layer_json,
                                         const std::vector<TensorSpec>& actual) {
  if (!layer_json.contains("build_config") || !layer_json["build_config"].is_object()) {
    return actual;
  }
  const json& shape = Field(layer_json["build_config"], "input_shape");
  std::vector<json> shapes;
  if (shape.is_array() && !shape.empty() && shape[0].is_array()) {
    shapes.assign(shape.begin(), shape.end());
  } else {
    shapes.push_back(shape);
  }
  if (shapes.size() != actual.size()) return actual;
  std::vector<TensorSpec> specs = actual;
  for (size_t i = 0; i < shapes.size(); ++i) {
    absl::StatusOr<Shape> parsed = ParseBatchShape(shapes[i], "build_config");
    if (!parsed.ok()) return actual;
    parsed->mutable_dims()[0] = kBatch;
    specs[i].shape = *parsed;
  }
  return specs;
}

}  // namespace

absl::StatusOr<int> ModelParser::NodeBuilder::AddCall(const std::shared_ptr<Layer>& layer,
                                                      const json& layer_json,
                                                      std::vector<std::pair<int, int>> inputs,
                                                      int64_t call_index, int config_index) {
  std::vector<TensorSpec> specs;
  std::vector<ValueId> values;
  for (const auto& [node, output] : inputs) {
    specs.push_back(
        model_->nodes_[static_cast<size_t>(node)]->outputs[static_cast<size_t>(output)]);
    values.push_back(values_[static_cast<size_t>(node)][static_cast<size_t>(output)]);
  }
  if (!layer->built()) {
    std::vector<TensorSpec> build_specs = BuildConfigSpecs(layer_json, specs);
    if (absl::Status s = layer->Build(build_specs); !s.ok()) {
      return s;
    }
    for (WeightSpec& w : layer->weights()) w.index = next_weight_++;
  }
  CallContext ctx;
  ctx.call_index = call_index;
  FORNAX_ASSIGN_OR_RETURN(std::vector<ValueId> outs, layer->Apply(builder_, values, ctx));
  auto node = std::make_unique<Model::LayerNode>();
  node->layer = layer;
  node->name = layer->name();
  node->class_name = layer->class_name();
  node->inputs = std::move(inputs);
  node->call_index = call_index;
  node->config_index = config_index;
  for (ValueId v : outs) {
    node->outputs.push_back(TensorSpec{layer->name(), builder_.dtype(v), builder_.shape(v)});
  }
  values_.push_back(std::move(outs));
  model_->nodes_.push_back(std::move(node));
  return static_cast<int>(model_->nodes_.size()) - 1;
}

absl::StatusOr<std::vector<std::pair<int, int>>> ModelParser::Inline(
    NodeBuilder& nb, const Model& inner, const std::vector<std::pair<int, int>>& inputs,
    int64_t call_index, int config_index) {
  Model* outer = nb.model();
  if (inputs.size() != inner.inputs_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("nested model '", inner.name_, "' takes ",
                                                   inner.inputs_.size(), " inputs, received ",
                                                   inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec& given = outer->nodes_[static_cast<size_t>(inputs[i].first)]
                                  ->outputs[static_cast<size_t>(inputs[i].second)];
    if (given.shape != inner.inputs_[i].shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "nested model '", inner.name_, "' expects input '", inner.inputs_[i].name, "' of shape ",
          inner.inputs_[i].shape.ToString(), ", received ", given.shape.ToString()));
    }
  }
  // Inner node -> outer node; inner inputs map to the given refs.
  std::vector<int> node_map(inner.nodes_.size(), -1);
  std::vector<std::pair<int, int>> input_refs(inner.nodes_.size());
  int first = -1;
  for (size_t n = 0; n < inner.nodes_.size(); ++n) {
    const Model::LayerNode& node = *inner.nodes_[n];
    if (node.layer == nullptr) {
      input_refs[n] = inputs[static_cast<size_t>(node.input_index)];
      continue;
    }
    std::vector<std::pair<int, int>> ins;
    for (const auto& [src, output] : node.inputs) {
      const size_t s = static_cast<size_t>(src);
      ins.push_back(node_map[s] >= 0 ? std::make_pair(node_map[s], output) : input_refs[s]);
    }
    // Distinct calls of a shared nested model get distinct call indices.
    FORNAX_ASSIGN_OR_RETURN(int added,
                            nb.AddCall(node.layer, json::object(), std::move(ins),
                                       node.call_index + call_index * 1000, config_index));
    Model::LayerNode& outer_node = *outer->nodes_[static_cast<size_t>(added)];
    outer_node.group = inner.name_;
    outer_node.group_class = inner.class_name_;
    if (first < 0) first = added;
    node_map[n] = added;
  }
  std::vector<std::pair<int, int>> outputs;
  for (const auto& [src, output] : inner.output_refs_) {
    const size_t s = static_cast<size_t>(src);
    outputs.push_back(node_map[s] >= 0 ? std::make_pair(node_map[s], output) : input_refs[s]);
  }
  if (first >= 0) {
    Model::LayerNode& head = *outer->nodes_[static_cast<size_t>(first)];
    for (const auto& [node, output] : outputs) {
      head.group_outputs.push_back(
          outer->nodes_[static_cast<size_t>(node)]->outputs[static_cast<size_t>(output)]);
    }
  }
  return outputs;
}

absl::Status ModelParser::ParseSequential(const json& config, const json& top, Model* model) {
  if (!config.contains("layers") || !config["layers"].is_array()) {
    return Malformed("Sequential config", "a \"layers\" list", Field(config, "layers"));
  }
  const json& layers = config["layers"];
  NodeBuilder mb(model);
  size_t first = 0;
  std::pair<int, int> current{-1, 0};
  if (!layers.empty() && Field(layers[0], "class_name") == "InputLayer") {
    FORNAX_ASSIGN_OR_RETURN(TensorSpec spec, ParseInputLayer(layers[0]));
    const std::string name = spec.name;
    current.first = mb.AddInput(std::move(spec), name, /*in_summary=*/false, 0);
    first = 1;
  } else {
    // No InputLayer: Keras records the shape the model was built with.
    json shape;
    if (top.contains("build_config") && top["build_config"].is_object()) {
      shape = Field(top["build_config"], "input_shape");
    }
    if (shape.is_null()) shape = Field(config, "build_input_shape");
    if (shape.is_null() && !layers.empty() && layers[0].contains("build_config")) {
      shape = Field(layers[0]["build_config"], "input_shape");
    }
    if (shape.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Sequential model '", model->name_,
          "' has no InputLayer and no build_config input_shape; the input shape is unknown"));
    }
    TensorSpec spec;
    spec.name = "input_layer";
    FORNAX_ASSIGN_OR_RETURN(spec.shape,
                            ParseBatchShape(shape, "Sequential build_config input_shape"));
    spec.shape.mutable_dims()[0] = kBatch;
    current.first = mb.AddInput(std::move(spec), "input_layer", /*in_summary=*/false, 0);
  }
  if (first == layers.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Sequential model '", model->name_, "' has no layers"));
  }
  for (size_t i = first; i < layers.size(); ++i) {
    if (Field(layers[i], "class_name") == "InputLayer") {
      return absl::InvalidArgumentError(
          absl::StrCat("Sequential model '", model->name_, "': InputLayer '", LayerName(layers[i]),
                       "' may only be the first layer (found at position ", i, ")"));
    }
    if (IsModelClass(ClassName(layers[i]))) {
      FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Model> inner, ParseNested(layers[i]));
      FORNAX_ASSIGN_OR_RETURN(auto outs, Inline(mb, *inner, {current}, 0, static_cast<int>(i)));
      if (outs.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "nested model '", inner->name(), "' in a Sequential model must have one output"));
      }
      current = outs[0];
      continue;
    }
    FORNAX_ASSIGN_OR_RETURN(std::shared_ptr<Layer> layer, MakeLayer(layers[i]));
    FORNAX_ASSIGN_OR_RETURN(current.first,
                            mb.AddCall(layer, layers[i], {current}, 0, static_cast<int>(i)));
    current.second = 0;
  }
  model->output_refs_ = {current};
  return absl::OkStatus();
}

// The Functional graph: layers by name, resolved depth first from the outputs.

absl::StatusOr<std::unique_ptr<Model>> ModelParser::Parse(const json& top) {
  if (!top.is_object() || !top.contains("class_name") || !top["class_name"].is_string()) {
    return Malformed("model", "an object with a string \"class_name\"", top);
  }
  const std::string class_name = top["class_name"].get<std::string>();
  if (!IsModelClass(class_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported model class '", class_name,
                     "': Fornax reads Sequential and Functional models (a subclassed model's "
                     "call() is Python)"));
  }
  if (!top.contains("config") || !top["config"].is_object()) {
    return Malformed(class_name, "a \"config\" object", Field(top, "config"));
  }
  const json& config = top["config"];
  std::unique_ptr<Model> model(new Model());
  model->class_name_ = class_name == "Sequential" ? "Sequential" : "Functional";
  model->name_ =
      Field(config, "name").is_string() ? config["name"].get<std::string>() : model->class_name_;
  model->config_ = top;
  std::vector<std::string> output_names;
  if (class_name == "Sequential") {
    FORNAX_RETURN_IF_ERROR(ParseSequential(config, top, model.get()));
  } else {
    FORNAX_RETURN_IF_ERROR(ParseFunctional(config, model.get(), &output_names));
  }
  for (size_t i = 0; i < model->output_refs_.size(); ++i) {
    const auto& [node, output] = model->output_refs_[i];
    TensorSpec spec =
        model->nodes_[static_cast<size_t>(node)]->outputs[static_cast<size_t>(output)];
    if (i < output_names.size()) spec.name = output_names[i];
    model->outputs_.push_back(std::move(spec));
  }
  return model;
}

}  // namespace fornax
