// The Operation layer: one Keras operation entry of a Functional config, bound
// to the constant arguments of its inbound node (see operation.h).
#include "engine/keras/layers/operation.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/operation_defs.h"

namespace fornax {
namespace {

using nlohmann::json;

// A positional argument as the inbound node gives it: the next tensor input,
// a Python scalar, or a list of those.
struct ArgTemplate {
  enum class Kind { kTensor, kScalar, kList };
  Kind kind = Kind::kTensor;
  double scalar = 0;
  DType scalar_dtype = DType::kFloat32;
  std::vector<ArgTemplate> items;
};

bool IsKerasTensor(const json& v) {
  return v.is_object() && Field(v, "class_name") == "__keras_tensor__";
}

class Operation final : public Layer {
 public:
  Operation(LayerCommon common, const OperationDef* def, OpAttrs attrs,
            std::vector<ArgTemplate> args, size_t num_tensors)
      : Layer(std::move(common)),
        def_(def),
        attrs_(std::move(attrs)),
        args_(std::move(args)),
        num_tensors_(num_tensors) {}

 protected:
  // Operations take tensors as they are; their own dtype rules apply.
  bool keeps_input_dtype() const override { return true; }
  int num_inputs() const override { return num_tensors_ == 1 ? 1 : -1; }

  absl::Status BuildImpl(std::span<const TensorSpec> inputs) override {
    if (inputs.size() != num_tensors_) {
      return Error(
          absl::StrCat("expected ", num_tensors_, " tensor arguments, received ", inputs.size()));
    }
    return absl::OkStatus();
  }

  std::vector<ValueId> Call(Builder& b, std::span<const ValueId> inputs,
                            const CallContext&) const override {
    size_t next = 0;
    auto resolve = [&](const ArgTemplate& t) {
      if (t.kind == ArgTemplate::Kind::kTensor) return inputs[next++];
      return b.Scalar(t.scalar, t.scalar_dtype);
    };
    std::vector<OpValue> values;
    for (const ArgTemplate& arg : args_) {
      OpValue v;
      if (arg.kind == ArgTemplate::Kind::kList) {
        v.is_list = true;
        for (const ArgTemplate& item : arg.items) v.list.push_back(resolve(item));
      } else {
        v.value = resolve(arg);
      }
      values.push_back(std::move(v));
    }
    return {def_->emit(b, attrs_, values)};
  }

 private:
  const OperationDef* def_;
  OpAttrs attrs_;
  std::vector<ArgTemplate> args_;
  size_t num_tensors_;
};

// Reads one argument; `depth` 1 is inside a list.
absl::StatusOr<ArgTemplate> ParseArg(const json& v, const std::string& where, int depth,
                                     size_t* num_tensors) {
  ArgTemplate t;
  if (IsKerasTensor(v)) {
    ++*num_tensors;
    return t;
  }
  if (v.is_boolean() || v.is_number()) {
    t.kind = ArgTemplate::Kind::kScalar;
    t.scalar = v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>();
    t.scalar_dtype = v.is_boolean()          ? DType::kBool
                     : v.is_number_integer() ? DType::kInt32
                                             : DType::kFloat32;
    return t;
  }
  if (v.is_array() && depth == 0) {
    t.kind = ArgTemplate::Kind::kList;
    for (const json& item : v) {
      FORNAX_ASSIGN_OR_RETURN(ArgTemplate i, ParseArg(item, where, 1, num_tensors));
      t.items.push_back(std::move(i));
    }
    return t;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, " is ", PythonRepr(v),
                   "; operation arguments must be tensors, numbers, booleans or a list of those"));
}

}  // namespace

bool IsKerasOperation(const json& layer_json) {
  const json& module = Field(layer_json, "module");
  return module.is_string() && (absl::StartsWith(module.get<std::string>(), "keras.src.ops.") ||
                                absl::StartsWith(module.get<std::string>(), "keras.ops"));
}

std::vector<std::string> SupportedOperations() { return OperationClassNames(); }

absl::StatusOr<std::unique_ptr<Layer>> CreateOperation(const json& layer_json) {
  const std::string class_name = Field(layer_json, "class_name").is_string()
                                     ? layer_json["class_name"].get<std::string>()
                                     : "";
  const json& config = Field(layer_json, "config");
  std::string name = class_name;
  if (Field(config, "name").is_string()) {
    name = config["name"].get<std::string>();
  } else if (Field(layer_json, "name").is_string()) {
    name = layer_json["name"].get<std::string>();
  }
  const std::string module =
      Field(layer_json, "module").is_string() ? layer_json["module"].get<std::string>() : "";
  const std::string context =
      absl::StrCat("layer '", name, "' (operation ", module, ".", class_name, ")");
  const OperationDef* def = FindOperationDef(class_name);
  if (def == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": unsupported Keras operation '", class_name,
                     "'; supported operations: ", absl::StrJoin(OperationClassNames(), ", ")));
  }
  const json& inbound = Field(layer_json, "inbound_nodes");
  if (!inbound.is_array() || inbound.size() != 1 || !inbound[0].is_object() ||
      !Field(inbound[0], "args").is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context,
                     ": expected exactly one inbound node {\"args\": [...]} (an "
                     "operation is one call on symbolic tensors), received ",
                     inbound.dump().substr(0, 120)));
  }
  const json& kwargs = Field(inbound[0], "kwargs");
  if (!kwargs.is_null() && !(kwargs.is_object() && kwargs.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        context, ": keyword arguments in the call are not supported, received ", kwargs.dump()));
  }
  const json& args = inbound[0]["args"];
  if (static_cast<int>(args.size()) != def->num_args) {
    return absl::InvalidArgumentError(absl::StrCat(
        context, ": expected ", def->num_args, " positional arguments, received ", args.size()));
  }
  std::vector<ArgTemplate> templates;
  size_t num_tensors = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string where = absl::StrCat(context, ": argument ", i);
    FORNAX_ASSIGN_OR_RETURN(ArgTemplate t, ParseArg(args[i], where, 0, &num_tensors));
    if ((t.kind == ArgTemplate::Kind::kList) != def->list_arg) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, def->list_arg ? " must be a list of tensors" : " must not be a list"));
    }
    templates.push_back(std::move(t));
  }
  if (num_tensors == 0) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": no argument is a tensor"));
  }
  static const json* const kEmpty = new json(json::object());
  ConfigView cfg(config.is_object() ? config : *kEmpty, context);
  OpAttrs attrs;
  if (def->parse != nullptr) FORNAX_RETURN_IF_ERROR(def->parse(cfg, &attrs));
  LayerCommon common;
  common.class_name = class_name;
  common.name = name;
  return std::make_unique<Operation>(std::move(common), def, std::move(attrs), std::move(templates),
                                     num_tensors);
}

}  // namespace fornax
