// OpDef for 2-D matrix multiplication with optional transposed operands.
#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

absl::Status InferMatMul(const Graph& g, Node* node) {
  const Node& a = InputNode(g, *node, 0);
  const Node& b = InputNode(g, *node, 1);
  if (absl::Status s = RequireRank(*node, a, "a", 2); !s.ok()) return s;
  if (absl::Status s = RequireRank(*node, b, "b", 2); !s.ok()) return s;
  if (absl::Status s = RequireNumeric(*node, a, "a"); !s.ok()) return s;
  if (a.dtype != b.dtype) {
    return OpError(*node, "operands must have the same dtype, got ", TypeString(a), " and ",
                   TypeString(b));
  }
  bool ta = node->attrs.transpose_a;
  bool tb = node->attrs.transpose_b;
  int64_t m = a.shape.dim(ta ? 1 : 0);
  int64_t ka = a.shape.dim(ta ? 0 : 1);
  int64_t kb = b.shape.dim(tb ? 1 : 0);
  int64_t n = b.shape.dim(tb ? 0 : 1);
  if (ka != kb) {
    return OpError(*node, "inner dimensions differ: a is ", TypeString(a),
                   ta ? " (transposed)" : "", " and b is ", TypeString(b),
                   tb ? " (transposed)" : "", ", contracting ", Shape{ka}.ToString(), " with ",
                   Shape{kb}.ToString());
  }
  node->dtype = a.dtype;
  node->shape = Shape{m, n};
  return absl::OkStatus();
}

// y = op(a) op(b); each case written so no explicit Transpose is needed.
void GradMatMul(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId a = InputOf(b, y, 0);
  ValueId w = InputOf(b, y, 1);
  bool ta = b.node(y).attrs.transpose_a;
  bool tb = b.node(y).attrs.transpose_b;
  if (!ta && !tb) {
    dx[0] = b.MatMul(dy, w, false, true);
    dx[1] = b.MatMul(a, dy, true, false);
  } else if (ta && !tb) {
    dx[0] = b.MatMul(w, dy, false, true);
    dx[1] = b.MatMul(a, dy);
  } else if (!ta && tb) {
    dx[0] = b.MatMul(dy, w);
    dx[1] = b.MatMul(dy, a, true, false);
  } else {
    dx[0] = b.MatMul(w, dy, true, true);
    dx[1] = b.MatMul(dy, a, true, true);
  }
}

constexpr OpDef kDefs[] = {
    {Op::kMatMul, InferMatMul, GradMatMul},
};

}  // namespace

std::span<const OpDef> LinalgOpDefs() { return kDefs; }

}  // namespace fornax
