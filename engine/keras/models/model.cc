#include "engine/keras/models/model.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/status_macros.h"
#include "engine/keras/models/model_node.h"
#include "engine/keras/models/model_parser.h"

namespace fornax {
namespace {

absl::Status WithSource(std::string_view source, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(std::string(source), ": ", s.message()));
}

}  // namespace

Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::FromJson(const nlohmann::json& config,
                                                       std::string_view source) {
  absl::StatusOr<std::unique_ptr<Model>> model;
  try {
    model = ModelParser::Parse(config);
  } catch (const nlohmann::json::exception& e) {
    // The parser checks types before reading; this is the safety net for a
    // shape of JSON it did not foresee, so no exception leaves the engine.
    model = absl::InvalidArgumentError(absl::StrCat("malformed model config: ", e.what()));
  }
  if (!model.ok()) return WithSource(source, model.status());
  return model;
}

absl::StatusOr<std::unique_ptr<Model>> Model::FromJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the model config"));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON: ", e.what()));
  }
  return FromJson(config, path);
}

absl::Status Model::CreateVariables(VariableStore* store, uint64_t seed) {
  std::set<const Layer*> done;
  int64_t ordinal = 0;
  for (const auto& node : nodes_) {
    Layer* layer = node->layer.get();
    if (layer == nullptr || !done.insert(layer).second) continue;
    for (WeightSpec& w : layer->weights()) {
      if (store->Find(w.path)) {
        return absl::InvalidArgumentError(
            absl::StrCat("model '", name_, "': variable '", w.path, "' already exists"));
      }
      // Each variable draws from its own stream: the run seed mixed with the
      // variable's position, so equal-shaped layers differ.
      FORNAX_ASSIGN_OR_RETURN(
          Tensor value,
          w.initializer->Create(w.shape, w.dtype, MixSeed(seed, static_cast<uint64_t>(ordinal))));
      ++ordinal;
      VariableInfo info;
      info.path = w.path;
      info.kind = VariableKind::kWeight;
      info.trainable = w.trainable;
      w.index = store->Add(std::move(info), std::move(value));
    }
  }
  variables_created_ = true;
  return absl::OkStatus();
}

absl::Status Model::Call(Builder& b, std::span<const ValueId> inputs, bool training,
                         std::vector<ValueId>* outputs, std::vector<ValueId>* losses) const {
  if (!variables_created_) {
    return absl::FailedPreconditionError(
        absl::StrCat("model '", name_, "': Call before CreateVariables"));
  }
  if (inputs.size() != inputs_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("model '", name_, "' expects ", inputs_.size(),
                                                   " inputs, received ", inputs.size()));
  }
  FORNAX_RETURN_IF_ERROR(b.status());
  for (size_t i = 0; i < inputs.size(); ++i) {
    // The batch dimension may be symbolic or concrete; the rest must match.
    Shape given = b.shape(inputs[i]);
    if (given.rank() > 0) given.mutable_dims()[0] = kBatch;
    if (given != inputs_[i].shape) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", name_, "': input '", inputs_[i].name, "' expects shape ",
                       inputs_[i].shape.ToString(), ", received ", b.shape(inputs[i]).ToString()));
    }
  }
  std::vector<std::vector<ValueId>> values;
  values.reserve(nodes_.size());
  for (const auto& node : nodes_) {
    if (node->layer == nullptr) {
      values.push_back({inputs[static_cast<size_t>(node->input_index)]});
      continue;
    }
    std::vector<ValueId> ins;
    for (const auto& [n, output] : node->inputs) {
      ins.push_back(values[static_cast<size_t>(n)][static_cast<size_t>(output)]);
    }
    CallContext ctx;
    ctx.training = node->training.value_or(training);
    ctx.call_index = node->call_index;
    FORNAX_ASSIGN_OR_RETURN(std::vector<ValueId> outs, node->layer->Apply(b, ins, ctx));
    const Layer& layer = *node->layer;
    if (node->call_index == 0) {  // a shared layer's weights are penalized once
      for (size_t i = 0; i < layer.weights().size(); ++i) {
        const WeightSpec& w = layer.weights()[i];
        if (w.regularizer) {
          losses->push_back(w.regularizer->Apply(b, b.Variable(w.index, w.dtype, w.shape, w.path)));
        }
      }
    }
    if (layer.activity_regularizer()) {
      for (ValueId v : outs) losses->push_back(layer.activity_regularizer()->Apply(b, v));
    }
    if (!b.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(layer.context(), " (", layer.class_name(), "): ", b.status().message()));
    }
    values.push_back(std::move(outs));
  }
  for (const auto& [node, output] : output_refs_) {
    outputs->push_back(values[static_cast<size_t>(node)][static_cast<size_t>(output)]);
  }
  return absl::OkStatus();
}

int64_t Model::CountParams(bool trainable_only) const {
  std::set<const Layer*> seen;
  int64_t total = 0;
  for (const auto& node : nodes_) {
    if (node->layer && seen.insert(node->layer.get()).second) {
      total += node->layer->CountParams(trainable_only);
    }
  }
  return total;
}

}  // namespace fornax
