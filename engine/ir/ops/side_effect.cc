// OpDefs for Assign (variable update) and for the fused ops that compiler
// passes create. Fused nodes get their dtype and shape from the pass that
// builds them, so their rule accepts the node as it is; none is
// differentiable (autodiff runs before fusion).
#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

absl::Status InferAssign(const Graph& g, Node* node) {
  if (node->attrs.index < 0) {
    return OpError(*node, "variable index must be >= 0, got ", node->attrs.index);
  }
  const Node& value = InputNode(g, *node, 0);
  node->dtype = value.dtype;
  node->shape = value.shape;
  return absl::OkStatus();
}

absl::Status InferFused(const Graph&, Node*) { return absl::OkStatus(); }

constexpr OpDef kSideEffectDefs[] = {
    {Op::kAssign, InferAssign, nullptr},
};

constexpr OpDef kFusedDefs[] = {
    {Op::kFusedElementwise, InferFused, nullptr},
    {Op::kFusedMatMul, InferFused, nullptr},
    {Op::kFusedConv2D, InferFused, nullptr},
};

}  // namespace

std::span<const OpDef> SideEffectOpDefs() { return kSideEffectDefs; }
std::span<const OpDef> FusedOpDefs() { return kFusedDefs; }

}  // namespace fornax
