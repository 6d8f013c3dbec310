// OpDefs for 2-D max and average pooling (NHWC) and their gradient ops.
// The gradient ops are linear in dy; AvgPool2DGrad's own gradient is
// AvgPool2D (its adjoint). MaxPool2DGrad has no rule: its adjoint would need
// a gather-at-argmax op the IR does not have.
#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

absl::StatusOr<Shape> PoolOutputShape(const Node& node, const Shape& x) {
  if (x.rank() != 4) return OpError(node, "expected x of rank 4 (NHWC), got ", x.ToString());
  const Attrs& a = node.attrs;
  std::vector<int64_t> dims{x.dim(0), 0, 0, x.dim(3)};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<int64_t> out =
        WindowOutputSize(node, x.dim(1 + i), a.window[i], a.strides[i], 1, a.padding);
    if (!out.ok()) return out.status();
    dims[static_cast<size_t>(1 + i)] = *out;
  }
  return Shape(std::move(dims));
}

absl::Status CheckDy(const Node& node, const Shape& x, const Node& dy) {
  absl::StatusOr<Shape> expected = PoolOutputShape(node, x);
  if (!expected.ok()) return expected.status();
  if (*expected != dy.shape) {
    return OpError(node, "expected dy of shape ", expected->ToString(), ", got ", TypeString(dy));
  }
  return absl::OkStatus();
}

absl::Status InferPool(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  if (absl::Status s = RequireFloat(*node, x, "x"); !s.ok()) return s;
  absl::StatusOr<Shape> out = PoolOutputShape(*node, x.shape);
  if (!out.ok()) return out.status();
  node->dtype = x.dtype;
  node->shape = *std::move(out);
  return absl::OkStatus();
}

absl::Status InferMaxPoolGrad(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  const Node& dy = InputNode(g, *node, 1);
  if (absl::Status s = RequireFloat(*node, dy, "dy"); !s.ok()) return s;
  if (absl::Status s = CheckDy(*node, x.shape, dy); !s.ok()) return s;
  node->dtype = dy.dtype;
  node->shape = x.shape;
  return absl::OkStatus();
}

absl::Status InferAvgPoolGrad(const Graph& g, Node* node) {
  const Node& dy = InputNode(g, *node, 0);
  if (absl::Status s = RequireFloat(*node, dy, "dy"); !s.ok()) return s;
  if (absl::Status s = CheckDy(*node, node->attrs.shape, dy); !s.ok()) return s;
  node->dtype = dy.dtype;
  node->shape = node->attrs.shape;
  return absl::OkStatus();
}

Attrs PoolAttrs(Builder& b, ValueId y, Shape shape) {
  Attrs attrs;
  const Attrs& src = b.node(y).attrs;
  attrs.window = src.window;
  attrs.strides = src.strides;
  attrs.padding = src.padding;
  attrs.shape = std::move(shape);
  return attrs;
}

void GradMaxPool(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  dx[0] = b.Emit(Op::kMaxPool2DGrad, {x, dy}, PoolAttrs(b, y, Shape{}));
}

void GradAvgPool(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Emit(Op::kAvgPool2DGrad, {dy}, PoolAttrs(b, y, b.shape(InputOf(b, y, 0))));
}

void GradAvgPoolGrad(Builder& b, ValueId y, ValueId g, std::span<ValueId> dx) {
  dx[0] = b.Emit(Op::kAvgPool2D, {g}, PoolAttrs(b, y, Shape{}));
}

constexpr OpDef kDefs[] = {
    {Op::kMaxPool2D, InferPool, GradMaxPool},
    {Op::kMaxPool2DGrad, InferMaxPoolGrad, nullptr},
    {Op::kAvgPool2D, InferPool, GradAvgPool},
    {Op::kAvgPool2DGrad, InferAvgPoolGrad, GradAvgPoolGrad},
};

}  // namespace

std::span<const OpDef> PoolOpDefs() { return kDefs; }

}  // namespace fornax
