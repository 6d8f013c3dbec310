// OpDef: what the IR knows about each op: its shape/dtype rule and its
// gradient rule. One OpDef per ops.def line, defined in engine/ir/ops/*.cc
// (one file per op family) and looked up by GetOpDef.
//
// Gradient rules are written in forward ops through a Builder. They receive
// the upstream gradient `dy` (same shape as the node) and fill one entry per
// input: kNoValue for "no gradient" (integer inputs, indices). The autodiff
// driver sums gradients at fan-out and reduces broadcast dimensions, so a rule
// may return a gradient with the *broadcast* shape.
#ifndef FORNAX_ENGINE_IR_OP_DEF_H_
#define FORNAX_ENGINE_IR_OP_DEF_H_

#include <span>

#include "absl/status/status.h"
#include "engine/ir/graph.h"

namespace fornax {

class Builder;

struct OpDef {
  Op op;
  // Sets node->dtype and node->shape from its inputs (in `graph`) and attrs.
  // InvalidArgument with expected vs got when the inputs do not fit.
  absl::Status (*infer)(const Graph& graph, Node* node) = nullptr;
  // nullptr: the op is not differentiable (its inputs get no gradient).
  void (*grad)(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) = nullptr;
};

const OpDef& GetOpDef(Op op);

}  // namespace fornax

#endif  // FORNAX_ENGINE_IR_OP_DEF_H_
