// OpDefs for elementwise ops: unary math, casts, broadcasting binary ops,
// comparisons, logic and Where. Gradient rules are written in forward ops;
// the autodiff driver reduces broadcast dimensions afterwards, so rules may
// return gradients of the broadcast (output) shape.
#include <cmath>
#include <numbers>

#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

// ---- shape rules -------------------------------------------------------------

absl::Status InferFloatUnary(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  if (absl::Status s = RequireFloat(*node, x, "x"); !s.ok()) return s;
  node->dtype = x.dtype;
  node->shape = x.shape;
  return absl::OkStatus();
}

absl::Status InferNumericUnary(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  if (absl::Status s = RequireNumeric(*node, x, "x"); !s.ok()) return s;
  node->dtype = x.dtype;
  node->shape = x.shape;
  return absl::OkStatus();
}

absl::Status InferLogicalNot(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  if (x.dtype != DType::kBool)
    return OpError(*node, "expected x of dtype bool, got ", TypeString(x));
  node->dtype = DType::kBool;
  node->shape = x.shape;
  return absl::OkStatus();
}

absl::Status InferIsFinite(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  if (absl::Status s = RequireFloat(*node, x, "x"); !s.ok()) return s;
  node->dtype = DType::kBool;
  node->shape = x.shape;
  return absl::OkStatus();
}

absl::Status InferCast(const Graph& g, Node* node) {
  node->dtype = node->attrs.dtype;
  node->shape = InputNode(g, *node, 0).shape;
  return absl::OkStatus();
}

// Both operands have one dtype (the Builder inserts casts) and broadcast.
absl::Status BroadcastSameDType(const Node& node, const Node& a, const Node& b, Shape* out) {
  if (a.dtype != b.dtype) {
    return OpError(node, "operands must have the same dtype, got ", TypeString(a), " and ",
                   TypeString(b));
  }
  absl::StatusOr<Shape> shape = BroadcastShapes(a.shape, b.shape);
  if (!shape.ok()) return OpError(node, shape.status().message());
  *out = *std::move(shape);
  return absl::OkStatus();
}

absl::Status InferArithmetic(const Graph& g, Node* node) {
  const Node& a = InputNode(g, *node, 0);
  const Node& b = InputNode(g, *node, 1);
  if (absl::Status s = RequireNumeric(*node, a, "a"); !s.ok()) return s;
  node->dtype = a.dtype;
  return BroadcastSameDType(*node, a, b, &node->shape);
}

absl::Status InferComparison(const Graph& g, Node* node) {
  node->dtype = DType::kBool;
  return BroadcastSameDType(*node, InputNode(g, *node, 0), InputNode(g, *node, 1), &node->shape);
}

absl::Status InferLogic(const Graph& g, Node* node) {
  const Node& a = InputNode(g, *node, 0);
  const Node& b = InputNode(g, *node, 1);
  if (a.dtype != DType::kBool || b.dtype != DType::kBool) {
    return OpError(*node, "expected bool operands, got ", TypeString(a), " and ", TypeString(b));
  }
  node->dtype = DType::kBool;
  return BroadcastSameDType(*node, a, b, &node->shape);
}

absl::Status InferWhere(const Graph& g, Node* node) {
  const Node& cond = InputNode(g, *node, 0);
  const Node& a = InputNode(g, *node, 1);
  const Node& b = InputNode(g, *node, 2);
  if (cond.dtype != DType::kBool) {
    return OpError(*node, "expected cond of dtype bool, got ", TypeString(cond));
  }
  Shape ab;
  if (absl::Status s = BroadcastSameDType(*node, a, b, &ab); !s.ok()) return s;
  absl::StatusOr<Shape> shape = BroadcastShapes(cond.shape, ab);
  if (!shape.ok()) return OpError(*node, shape.status().message());
  node->dtype = a.dtype;
  node->shape = *std::move(shape);
  return absl::OkStatus();
}

// ---- gradient rules ------------------------------------------------------------

ValueId Zero(Builder& b, ValueId like) { return ScalarLike(b, 0.0, like); }

void GradNeg(Builder& b, ValueId, ValueId dy, std::span<ValueId> dx) { dx[0] = b.Neg(dy); }
void GradExp(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) { dx[0] = b.Mul(dy, y); }
void GradLog(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Div(dy, InputOf(b, y, 0));
}
void GradLog1p(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  dx[0] = b.Div(dy, b.Add(x, ScalarLike(b, 1.0, x)));
}
void GradSqrt(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Div(dy, b.Mul(y, ScalarLike(b, 2.0, y)));
}
void GradRsqrt(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3.
  ValueId y3 = b.Mul(y, b.Square(y));
  dx[0] = b.Mul(dy, b.Mul(y3, ScalarLike(b, -0.5, y)));
}
void GradTanh(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Mul(dy, b.Sub(ScalarLike(b, 1.0, y), b.Square(y)));
}
void GradSigmoid(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Mul(dy, b.Mul(y, b.Sub(ScalarLike(b, 1.0, y), y)));
}
void GradRelu(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  dx[0] = b.Where(b.Binary(Op::kGreater, x, Zero(b, x)), dy, Zero(b, dy));
}
void GradAbs(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Mul(dy, b.Unary(Op::kSign, InputOf(b, y, 0)));
}
void GradErf(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  ValueId k = ScalarLike(b, 2.0 / std::sqrt(std::numbers::pi), x);
  dx[0] = b.Mul(dy, b.Mul(k, b.Exp(b.Neg(b.Square(x)))));
}
// Float-to-float casts pass the gradient through (cast back); anything that
// touches an integer or bool has no gradient.
void GradCast(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId x = InputOf(b, y, 0);
  if (IsFloating(b.dtype(x)) && IsFloating(b.dtype(y))) dx[0] = b.Cast(dy, b.dtype(x));
}

void GradAdd(Builder&, ValueId, ValueId dy, std::span<ValueId> dx) {
  dx[0] = dy;
  dx[1] = dy;
}
void GradSub(Builder& b, ValueId, ValueId dy, std::span<ValueId> dx) {
  dx[0] = dy;
  dx[1] = b.Neg(dy);
}
void GradMul(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Mul(dy, InputOf(b, y, 1));
  dx[1] = b.Mul(dy, InputOf(b, y, 0));
}
void GradDiv(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId den = InputOf(b, y, 1);
  dx[0] = b.Div(dy, den);
  dx[1] = b.Neg(b.Div(b.Mul(dy, y), den));
}
// Maximum/Minimum: ties send the whole gradient to `a` (ops.def).
void GradSelect(Builder& b, Op compare, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId mask = b.Binary(compare, InputOf(b, y, 0), InputOf(b, y, 1));
  dx[0] = b.Where(mask, dy, Zero(b, dy));
  dx[1] = b.Where(mask, Zero(b, dy), dy);
}
void GradMaximum(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  GradSelect(b, Op::kGreaterEqual, y, dy, dx);
}
void GradMinimum(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  GradSelect(b, Op::kLessEqual, y, dy, dx);
}
void GradPow(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId base = InputOf(b, y, 0);
  ValueId exponent = InputOf(b, y, 1);
  ValueId one = ScalarLike(b, 1.0, exponent);
  dx[0] = b.Mul(dy, b.Mul(exponent, b.Pow(base, b.Sub(exponent, one))));
  // log(base) only where base > 0 (TF's convention), so x^c with x <= 0
  // does not poison the exponent's gradient with NaN.
  ValueId zero = Zero(b, base);
  ValueId log_base = b.Where(b.Binary(Op::kGreater, base, zero), b.Log(base), zero);
  dx[1] = b.Mul(dy, b.Mul(y, log_base));
}
void GradWhere(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  ValueId cond = InputOf(b, y, 0);
  dx[1] = b.Where(cond, dy, Zero(b, dy));
  dx[2] = b.Where(cond, Zero(b, dy), dy);
}

constexpr OpDef kDefs[] = {
    {Op::kNeg, InferNumericUnary, GradNeg},
    {Op::kExp, InferFloatUnary, GradExp},
    {Op::kLog, InferFloatUnary, GradLog},
    {Op::kLog1p, InferFloatUnary, GradLog1p},
    {Op::kSqrt, InferFloatUnary, GradSqrt},
    {Op::kRsqrt, InferFloatUnary, GradRsqrt},
    {Op::kTanh, InferFloatUnary, GradTanh},
    {Op::kSigmoid, InferFloatUnary, GradSigmoid},
    {Op::kRelu, InferNumericUnary, GradRelu},
    {Op::kAbs, InferNumericUnary, GradAbs},
    {Op::kSign, InferNumericUnary, nullptr},  // zero gradient almost everywhere
    {Op::kErf, InferFloatUnary, GradErf},
    {Op::kFloor, InferFloatUnary, nullptr},  // zero gradient almost everywhere
    {Op::kLogicalNot, InferLogicalNot, nullptr},
    {Op::kIsFinite, InferIsFinite, nullptr},
    {Op::kCast, InferCast, GradCast},
    {Op::kAdd, InferArithmetic, GradAdd},
    {Op::kSub, InferArithmetic, GradSub},
    {Op::kMul, InferArithmetic, GradMul},
    {Op::kDiv, InferArithmetic, GradDiv},
    {Op::kMaximum, InferArithmetic, GradMaximum},
    {Op::kMinimum, InferArithmetic, GradMinimum},
    {Op::kPow, InferArithmetic, GradPow},
    {Op::kGreater, InferComparison, nullptr},
    {Op::kGreaterEqual, InferComparison, nullptr},
    {Op::kLess, InferComparison, nullptr},
    {Op::kLessEqual, InferComparison, nullptr},
    {Op::kEqual, InferComparison, nullptr},
    {Op::kNotEqual, InferComparison, nullptr},
    {Op::kLogicalAnd, InferLogic, nullptr},
    {Op::kLogicalOr, InferLogic, nullptr},
    {Op::kWhere, InferWhere, GradWhere},
};

}  // namespace

std::span<const OpDef> ElementwiseOpDefs() { return kDefs; }

}  // namespace fornax
