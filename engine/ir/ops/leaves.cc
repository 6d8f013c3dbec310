// OpDefs for leaves: graph inputs, variables, constants, random numbers and
// the runtime size of a dimension. None of them is differentiable.
#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

// Input and Variable carry the dtype and shape the builder gave them.
absl::Status InferSlot(const Graph&, Node* node) {
  if (node->attrs.index < 0)
    return OpError(*node, "slot index must be >= 0, got ", node->attrs.index);
  return absl::OkStatus();
}

absl::Status InferConstant(const Graph&, Node* node) {
  const Tensor& value = node->attrs.value;
  if (!value.defined()) return OpError(*node, "attrs.value is not set");
  node->dtype = value.dtype();
  node->shape = value.shape();
  return absl::OkStatus();
}

absl::Status InferRandomUniform(const Graph&, Node* node) {
  for (int64_t d : node->attrs.shape.dims()) {
    if (d < 0 && d != kBatch) return OpError(*node, "bad shape ", node->attrs.shape.ToString());
  }
  node->dtype = DType::kFloat32;
  node->shape = node->attrs.shape;
  return absl::OkStatus();
}

absl::Status InferDimSize(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  if (node->attrs.axis < 0 || node->attrs.axis >= x.shape.rank()) {
    return OpError(*node, "axis ", node->attrs.axis, " is out of range for ", TypeString(x));
  }
  node->dtype = DType::kFloat32;
  node->shape = Shape{};
  return absl::OkStatus();
}

constexpr OpDef kDefs[] = {
    {Op::kInput, InferSlot, nullptr},        {Op::kVariable, InferSlot, nullptr},
    {Op::kConstant, InferConstant, nullptr}, {Op::kRandomUniform, InferRandomUniform, nullptr},
    {Op::kDimSize, InferDimSize, nullptr},
};

}  // namespace

std::span<const OpDef> LeafOpDefs() { return kDefs; }

}  // namespace fornax
