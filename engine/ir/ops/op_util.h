// Helpers shared by the OpDef families in engine/ir/ops/*.cc: error
// formatting for shape rules, common dtype/shape checks, and the per-family
// def lists that op_def.cc gathers into the table GetOpDef reads.
// Internal to engine/ir; nothing outside it includes this header.
#ifndef FORNAX_ENGINE_IR_OPS_OP_UTIL_H_
#define FORNAX_ENGINE_IR_OPS_OP_UTIL_H_

#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/ir/builder.h"
#include "engine/ir/graph.h"
#include "engine/ir/op_def.h"

namespace fornax {

// Each family file defines one of these; op_def.cc indexes them by op.
std::span<const OpDef> LeafOpDefs();
std::span<const OpDef> ElementwiseOpDefs();
std::span<const OpDef> ReduceOpDefs();
std::span<const OpDef> MovementOpDefs();
std::span<const OpDef> LinalgOpDefs();
std::span<const OpDef> ConvOpDefs();
std::span<const OpDef> PoolOpDefs();
std::span<const OpDef> SideEffectOpDefs();
std::span<const OpDef> FusedOpDefs();

// InvalidArgument prefixed with the op's printed name: "matmul: ...".
template <typename... Args>
absl::Status OpError(const Node& node, const Args&... args) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(OpName(node.op)), ": ", args...));
}

inline const Node& InputNode(const Graph& g, const Node& node, int i) {
  return g.node(node.inputs[static_cast<size_t>(i)]);
}

// "float32(None, 10)", how values appear in messages.
std::string TypeString(const Node& n);

// Input #i must have a floating dtype (what = "x", "a", ...).
absl::Status RequireFloat(const Node& node, const Node& in, std::string_view what);
// Input #i must be a number (not bool).
absl::Status RequireNumeric(const Node& node, const Node& in, std::string_view what);
absl::Status RequireRank(const Node& node, const Node& in, std::string_view what, int rank);

// Output spatial size of a conv/pool window along one dim (Keras/TF rules).
absl::StatusOr<int64_t> WindowOutputSize(const Node& node, int64_t in, int64_t window,
                                         int64_t stride, int64_t dilation, Padding padding);

// The shape `x` has after reducing `axes` with keepdims=true.
Shape KeepDimsShape(const Shape& x, const std::vector<int64_t>& axes);

// Gradient-rule helpers.
inline ValueId InputOf(Builder& b, ValueId y, int i) {
  return b.node(y).inputs[static_cast<size_t>(i)];
}
// A scalar constant with the dtype of `like`.
inline ValueId ScalarLike(Builder& b, double v, ValueId like) { return b.Scalar(v, b.dtype(like)); }

}  // namespace fornax

#endif  // FORNAX_ENGINE_IR_OPS_OP_UTIL_H_
