// OpDefs for reductions over attrs.axes (sorted, unique; the Builder
// normalizes them) and ArgMax along attrs.axis.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

absl::Status InferReduce(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  if (absl::Status s = RequireNumeric(*node, x, "x"); !s.ok()) return s;
  const std::vector<int64_t>& axes = node->attrs.axes;
  for (size_t i = 0; i < axes.size(); ++i) {
    bool in_range = axes[i] >= 0 && axes[i] < x.shape.rank();
    bool ascending = i == 0 || axes[i] > axes[i - 1];
    if (!in_range || !ascending) {
      return OpError(*node, "expected sorted unique axes in [0, ", x.shape.rank(), ") for ",
                     TypeString(x), ", got [", absl::StrJoin(axes, ", "), "]");
    }
  }
  std::vector<int64_t> dims;
  for (int i = 0; i < x.shape.rank(); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) {
      dims.push_back(x.shape.dim(i));
    } else if (node->attrs.keepdims) {
      dims.push_back(1);
    }
  }
  node->dtype = x.dtype;
  node->shape = Shape(std::move(dims));
  return absl::OkStatus();
}

absl::Status InferArgMax(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  if (absl::Status s = RequireNumeric(*node, x, "x"); !s.ok()) return s;
  int64_t axis = node->attrs.axis;
  if (axis < 0 || axis >= x.shape.rank()) {
    return OpError(*node, "axis ", axis, " is out of range for ", TypeString(x));
  }
  std::vector<int64_t> dims = x.shape.dims();
  dims.erase(dims.begin() + axis);
  node->dtype = DType::kInt32;
  node->shape = Shape(std::move(dims));
  return absl::OkStatus();
}

// dy reshaped so that it broadcasts against the reduction's input.
ValueId KeepDimsGrad(Builder& b, ValueId y, ValueId dy) {
  const Node& n = b.node(y);
  if (n.attrs.keepdims) return dy;
  return b.Reshape(dy, KeepDimsShape(b.shape(n.inputs[0]), n.attrs.axes));
}

void GradReduceSum(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  dx[0] = b.BroadcastTo(KeepDimsGrad(b, y, dy), b.shape(x));
}

void GradReduceMean(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  // The element count: static dims folded, the batch dim read at run time.
  double static_count = 1;
  ValueId count = kNoValue;
  const std::vector<int64_t> axes = b.node(y).attrs.axes;  // emitting moves the nodes
  for (int64_t axis : axes) {
    int64_t d = b.shape(x).dim(static_cast<int>(axis));
    if (d != kBatch) {
      static_count *= static_cast<double>(d);
      continue;
    }
    ValueId size = b.DimSize(x, axis);
    if (b.dtype(x) != DType::kFloat32) size = b.Cast(size, b.dtype(x));
    count = count == kNoValue ? size : b.Mul(count, size);
  }
  ValueId denom = count;
  if (count == kNoValue) {
    denom = ScalarLike(b, static_count, x);
  } else if (static_count != 1) {
    denom = b.Mul(count, ScalarLike(b, static_count, x));
  }
  dx[0] = b.Div(b.BroadcastTo(KeepDimsGrad(b, y, dy), b.shape(x)), denom);
}

// Ties share the gradient evenly (ops.def).
void GradReduceMax(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  const Attrs attrs = b.node(y).attrs;  // a copy: emitting moves the graph's nodes
  ValueId y_keep = attrs.keepdims ? y : b.Reshape(y, KeepDimsShape(b.shape(x), attrs.axes));
  ValueId mask = b.Cast(b.Binary(Op::kEqual, x, y_keep), b.dtype(x));
  ValueId ties = b.Sum(mask, attrs.axes, /*keepdims=*/true);
  dx[0] = b.Mul(b.Div(KeepDimsGrad(b, y, dy), ties), mask);
}

constexpr OpDef kDefs[] = {
    {Op::kReduceSum, InferReduce, GradReduceSum},
    {Op::kReduceMean, InferReduce, GradReduceMean},
    {Op::kReduceMax, InferReduce, GradReduceMax},
    {Op::kArgMax, InferArgMax, nullptr},
};

}  // namespace

std::span<const OpDef> ReduceOpDefs() { return kDefs; }

}  // namespace fornax
