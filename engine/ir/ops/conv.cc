// OpDefs for 2-D convolution (x NHWC, w HWIO, Keras/TF 'same'/'valid'
// padding) and its two backprop ops, which are linear in each operand and so
// have gradient rules of their own (second derivatives, and Conv2DTranspose).
#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

// The output shape of conv2d(x, w) under node's strides/padding/dilation.
absl::StatusOr<Shape> ConvOutputShape(const Node& node, const Shape& x, const Shape& w) {
  if (x.rank() != 4 || w.rank() != 4) {
    return OpError(node, "expected x of rank 4 (NHWC) and w of rank 4 (HWIO), got ", x.ToString(),
                   " and ", w.ToString());
  }
  if (x.dim(3) != w.dim(2)) {
    return OpError(node, "input channels differ: x ", x.ToString(), " has ", x.dim(3), ", w ",
                   w.ToString(), " expects ", w.dim(2));
  }
  const Attrs& a = node.attrs;
  std::vector<int64_t> dims{x.dim(0), 0, 0, w.dim(3)};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<int64_t> out =
        WindowOutputSize(node, x.dim(1 + i), w.dim(i), a.strides[i], a.dilation[i], a.padding);
    if (!out.ok()) return out.status();
    dims[static_cast<size_t>(1 + i)] = *out;
  }
  return Shape(std::move(dims));
}

absl::Status InferConv2D(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  const Node& w = InputNode(g, *node, 1);
  if (absl::Status s = RequireFloat(*node, x, "x"); !s.ok()) return s;
  if (x.dtype != w.dtype) {
    return OpError(*node, "x and w must have the same dtype, got ", TypeString(x), " and ",
                   TypeString(w));
  }
  absl::StatusOr<Shape> out = ConvOutputShape(*node, x.shape, w.shape);
  if (!out.ok()) return out.status();
  node->dtype = x.dtype;
  node->shape = *std::move(out);
  return absl::OkStatus();
}

// Checks that dy is the output of conv2d(x_shape, w_shape).
absl::Status CheckDy(const Node& node, const Shape& x, const Shape& w, const Node& dy) {
  absl::StatusOr<Shape> expected = ConvOutputShape(node, x, w);
  if (!expected.ok()) return expected.status();
  if (*expected != dy.shape) {
    return OpError(node, "expected dy of shape ", expected->ToString(), ", got ", TypeString(dy));
  }
  return absl::OkStatus();
}

absl::Status InferConv2DBackpropInput(const Graph& g, Node* node) {
  const Node& dy = InputNode(g, *node, 0);
  const Node& w = InputNode(g, *node, 1);
  if (absl::Status s = RequireFloat(*node, dy, "dy"); !s.ok()) return s;
  if (absl::Status s = CheckDy(*node, node->attrs.shape, w.shape, dy); !s.ok()) return s;
  node->dtype = dy.dtype;
  node->shape = node->attrs.shape;
  return absl::OkStatus();
}

absl::Status InferConv2DBackpropFilter(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  const Node& dy = InputNode(g, *node, 1);
  if (absl::Status s = RequireFloat(*node, dy, "dy"); !s.ok()) return s;
  if (absl::Status s = CheckDy(*node, x.shape, node->attrs.shape, dy); !s.ok()) return s;
  node->dtype = dy.dtype;
  node->shape = node->attrs.shape;
  return absl::OkStatus();
}

// Attrs of a sibling conv op: same window geometry, result `shape`.
Attrs ConvAttrs(Builder& b, ValueId y, Shape shape) {
  Attrs attrs;
  const Attrs& src = b.node(y).attrs;
  attrs.strides = src.strides;
  attrs.dilation = src.dilation;
  attrs.padding = src.padding;
  attrs.shape = std::move(shape);
  return attrs;
}

void GradConv2D(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  ValueId w = InputOf(b, y, 1);
  dx[0] = b.Emit(Op::kConv2DBackpropInput, {dy, w}, ConvAttrs(b, y, b.shape(x)));
  dx[1] = b.Emit(Op::kConv2DBackpropFilter, {x, dy}, ConvAttrs(b, y, b.shape(w)));
}

// y = BackpropInput(dy, w) is bilinear: <g, y> = <conv(g, w), dy>.
void GradConv2DBackpropInput(Builder& b, ValueId y, ValueId g, std::span<ValueId> dx) {
  ValueId dy = InputOf(b, y, 0);
  ValueId w = InputOf(b, y, 1);
  dx[0] = b.Emit(Op::kConv2D, {g, w}, ConvAttrs(b, y, Shape{}));
  dx[1] = b.Emit(Op::kConv2DBackpropFilter, {g, dy}, ConvAttrs(b, y, b.shape(w)));
}

// y = BackpropFilter(x, dy): <g, y> = <conv(x, g), dy>.
void GradConv2DBackpropFilter(Builder& b, ValueId y, ValueId g, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  ValueId dy = InputOf(b, y, 1);
  dx[0] = b.Emit(Op::kConv2DBackpropInput, {dy, g}, ConvAttrs(b, y, b.shape(x)));
  dx[1] = b.Emit(Op::kConv2D, {x, g}, ConvAttrs(b, y, Shape{}));
}

constexpr OpDef kDefs[] = {
    {Op::kConv2D, InferConv2D, GradConv2D},
    {Op::kConv2DBackpropInput, InferConv2DBackpropInput, GradConv2DBackpropInput},
    {Op::kConv2DBackpropFilter, InferConv2DBackpropFilter, GradConv2DBackpropFilter},
};

}  // namespace

std::span<const OpDef> ConvOpDefs() { return kDefs; }

}  // namespace fornax
