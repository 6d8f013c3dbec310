// Builder: checked IR emission with sticky errors (see builder.h).
#include "engine/ir/builder.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/ir/op_def.h"

namespace fornax {
namespace {

// Position in the promotion lattice; float16 and bfloat16 share a level.
int PromotionLevel(DType d) {
  switch (d) {
    case DType::kBool:
      return 0;
    case DType::kUInt8:
      return 1;
    case DType::kInt32:
      return 2;
    case DType::kInt64:
      return 3;
    case DType::kFloat16:
    case DType::kBFloat16:
      return 4;
    case DType::kFloat32:
      return 5;
  }
  return 5;
}

DType PromoteTypes(DType a, DType b) {
  if (a == b) return a;
  int la = PromotionLevel(a);
  int lb = PromotionLevel(b);
  if (la == lb) return DType::kFloat32;  // float16 with bfloat16
  return la > lb ? a : b;
}

std::string OpPrefix(Op op) { return std::string(OpName(op)); }

}  // namespace

void Builder::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
}

absl::Status Builder::TakeStatus() {
  absl::Status s = std::move(status_);
  status_ = absl::OkStatus();
  return s;
}

bool Builder::Valid(ValueId v) {
  if (!ok()) return false;
  if (v < 0 || v >= graph_->size()) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("value %", v, " does not exist (the graph has ", graph_->size(), " values)")));
    return false;
  }
  return true;
}

ValueId Builder::EmitNode(Node node) {
  if (!ok()) return kNoValue;
  int arity = OpArity(node.op);
  if (arity >= 0 && static_cast<int>(node.inputs.size()) != arity) {
    Fail(absl::InvalidArgumentError(absl::StrCat(OpPrefix(node.op), ": expected ", arity,
                                                 " inputs, got ", node.inputs.size())));
    return kNoValue;
  }
  for (ValueId in : node.inputs) {
    if (!Valid(in)) return kNoValue;
  }
  const OpDef& def = GetOpDef(node.op);
  if (def.infer == nullptr) {
    Fail(absl::InternalError(absl::StrCat(OpPrefix(node.op), ": op has no shape rule")));
    return kNoValue;
  }
  if (absl::Status s = def.infer(*graph_, &node); !s.ok()) {
    Fail(std::move(s));
    return kNoValue;
  }
  return graph_->Append(std::move(node));
}

ValueId Builder::Emit(Op op, std::vector<ValueId> inputs, Attrs attrs, std::string name) {
  Node node;
  node.op = op;
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  node.name = std::move(name);
  return EmitNode(std::move(node));
}

// ---- leaves --------------------------------------------------------------------

ValueId Builder::Input(int64_t index, DType dtype, Shape shape, std::string name) {
  for (int64_t d : shape.dims()) {
    if (d < 0 && d != kBatch) {
      Fail(absl::InvalidArgumentError(
          absl::StrCat("input: bad shape ", shape.ToString(), " for input #", index)));
      return kNoValue;
    }
  }
  Node node;
  node.op = Op::kInput;
  node.dtype = dtype;
  node.shape = std::move(shape);
  node.attrs.index = index;
  node.name = std::move(name);
  return EmitNode(std::move(node));
}

ValueId Builder::Variable(int64_t index, DType dtype, Shape shape, std::string name) {
  for (int64_t d : shape.dims()) {
    if (d < 0) {
      Fail(absl::InvalidArgumentError(absl::StrCat("variable: expected a fully known shape for '",
                                                   name, "', got ", shape.ToString())));
      return kNoValue;
    }
  }
  Node node;
  node.op = Op::kVariable;
  node.dtype = dtype;
  node.shape = std::move(shape);
  node.attrs.index = index;
  node.name = std::move(name);
  return EmitNode(std::move(node));
}

ValueId Builder::Constant(Tensor value) {
  Attrs attrs;
  attrs.value = std::move(value);
  return Emit(Op::kConstant, {}, std::move(attrs));
}

ValueId Builder::Scalar(double value, DType dtype) {
  Tensor t(dtype, Shape{});
  t.SetFromDouble(0, value);
  return Constant(std::move(t));
}

ValueId Builder::Fill(double value, DType dtype, Shape shape) {
  ValueId scalar = Scalar(value, dtype);
  if (shape.rank() == 0) return scalar;
  return BroadcastTo(scalar, std::move(shape));
}

ValueId Builder::RandomUniform(Shape shape, int64_t stream) {
  Attrs attrs;
  attrs.shape = std::move(shape);
  attrs.index = stream;
  return Emit(Op::kRandomUniform, {}, std::move(attrs));
}

ValueId Builder::DimSize(ValueId x, int64_t axis) {
  if (!NormalizeAxis(Op::kDimSize, x, &axis)) return kNoValue;
  Attrs attrs;
  attrs.axis = axis;
  return Emit(Op::kDimSize, {x}, std::move(attrs));
}

// ---- elementwise -----------------------------------------------------------------

ValueId Builder::Unary(Op op, ValueId x) { return Emit(op, {x}); }

void Builder::Promote(ValueId* a, ValueId* b) {
  DType da = dtype(*a);
  DType db = dtype(*b);
  if (da == db) return;
  // A rank-0 constant adopts the other operand's dtype when that loses
  // nothing a literal means: any number next to a float, an integer next to
  // an integer.
  auto adopt = [&](ValueId* scalar, DType scalar_dtype, DType other) {
    const Node& n = node(*scalar);
    if (n.op != Op::kConstant || n.shape.rank() != 0) return false;
    bool fits = IsFloating(other) || (IsInteger(scalar_dtype) && IsInteger(other));
    if (!fits) return false;
    *scalar = Constant(n.attrs.value.CastTo(other));
    return true;
  };
  if (adopt(b, db, da) || adopt(a, da, db)) return;
  DType common = PromoteTypes(da, db);
  *a = Cast(*a, common);
  *b = Cast(*b, common);
}

ValueId Builder::Binary(Op op, ValueId a, ValueId b) {
  if (!Valid(a) || !Valid(b)) return kNoValue;
  if (op != Op::kLogicalAnd && op != Op::kLogicalOr) Promote(&a, &b);
  return Emit(op, {a, b});
}

ValueId Builder::Where(ValueId cond, ValueId a, ValueId b) {
  if (!Valid(cond) || !Valid(a) || !Valid(b)) return kNoValue;
  Promote(&a, &b);
  return Emit(Op::kWhere, {cond, a, b});
}

ValueId Builder::Cast(ValueId x, DType dtype) {
  if (!Valid(x)) return kNoValue;
  if (this->dtype(x) == dtype) return x;
  Attrs attrs;
  attrs.dtype = dtype;
  return Emit(Op::kCast, {x}, std::move(attrs));
}

// ---- reductions ----------------------------------------------------------------

bool Builder::NormalizeAxis(Op op, ValueId x, int64_t* axis) {
  if (!Valid(x)) return false;
  int r = rank(x);
  int64_t a = *axis < 0 ? *axis + r : *axis;
  if (a < 0 || a >= r) {
    Fail(absl::InvalidArgumentError(absl::StrCat(OpPrefix(op), ": axis ", *axis,
                                                 " is out of range for rank ", r, " input ",
                                                 shape(x).ToString())));
    return false;
  }
  *axis = a;
  return true;
}

ValueId Builder::Reduce(Op op, ValueId x, std::vector<int64_t> axes, bool keepdims) {
  for (int64_t& a : axes) {
    if (!NormalizeAxis(op, x, &a)) return kNoValue;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat(OpPrefix(op), ": repeated axis in [", absl::StrJoin(axes, ", "), "]")));
    return kNoValue;
  }
  Attrs attrs;
  attrs.axes = std::move(axes);
  attrs.keepdims = keepdims;
  return Emit(op, {x}, std::move(attrs));
}

ValueId Builder::Sum(ValueId x, std::vector<int64_t> axes, bool keepdims) {
  return Reduce(Op::kReduceSum, x, std::move(axes), keepdims);
}
ValueId Builder::Mean(ValueId x, std::vector<int64_t> axes, bool keepdims) {
  return Reduce(Op::kReduceMean, x, std::move(axes), keepdims);
}
ValueId Builder::Max(ValueId x, std::vector<int64_t> axes, bool keepdims) {
  return Reduce(Op::kReduceMax, x, std::move(axes), keepdims);
}

ValueId Builder::ArgMax(ValueId x, int64_t axis) {
  if (!NormalizeAxis(Op::kArgMax, x, &axis)) return kNoValue;
  Attrs attrs;
  attrs.axis = axis;
  return Emit(Op::kArgMax, {x}, std::move(attrs));
}

ValueId Builder::SumAll(ValueId x) {
  if (!Valid(x)) return kNoValue;
  std::vector<int64_t> axes(static_cast<size_t>(rank(x)));
  std::iota(axes.begin(), axes.end(), 0);
  return Sum(x, std::move(axes));
}

ValueId Builder::MeanAll(ValueId x) {
  if (!Valid(x)) return kNoValue;
  std::vector<int64_t> axes(static_cast<size_t>(rank(x)));
  std::iota(axes.begin(), axes.end(), 0);
  return Mean(x, std::move(axes));
}

// ---- shape and data movement -------------------------------------------------------

ValueId Builder::Reshape(ValueId x, Shape target) {
  if (!Valid(x)) return kNoValue;
  const Shape in = shape(x);
  // Which -1s may stand for an inferred dim: all of them for an unbatched
  // input; those after a leading kBatch when the input's batch leads too.
  auto& dims = target.mutable_dims();
  size_t first = 0;
  if (in.HasBatch()) {
    bool leading_batch = in.dim(0) == kBatch &&
                         std::count(in.dims().begin(), in.dims().end(), kBatch) == 1 &&
                         !dims.empty() && dims[0] == kBatch;
    first = leading_batch ? 1 : dims.size();
  }
  auto rest = dims.begin() + static_cast<std::ptrdiff_t>(first);
  auto unknown = std::find(rest, dims.end(), int64_t{-1});
  if (unknown != dims.end()) {
    int64_t have = in.NumElements(1);  // per batch item
    int64_t known = 1;
    for (auto it = rest; it != dims.end(); ++it) known *= *it == -1 ? 1 : *it;
    bool one_unknown = std::count(rest, dims.end(), int64_t{-1}) == 1;
    if (!one_unknown || known <= 0 || have % known != 0) {
      Fail(absl::InvalidArgumentError(absl::StrCat("reshape: cannot reshape ", in.ToString(), " (",
                                                   have, " elements per batch item) to [",
                                                   absl::StrJoin(dims, ", "), "]")));
      return kNoValue;
    }
    *unknown = have / known;
  }
  if (target == in) return x;
  Attrs attrs;
  attrs.shape = std::move(target);
  return Emit(Op::kReshape, {x}, std::move(attrs));
}

ValueId Builder::Transpose(ValueId x, std::vector<int64_t> perm) {
  if (!Valid(x)) return kNoValue;
  for (int64_t& p : perm) {
    if (p < 0) p += rank(x);
  }
  Attrs attrs;
  attrs.axes = std::move(perm);
  return Emit(Op::kTranspose, {x}, std::move(attrs));
}

ValueId Builder::BroadcastTo(ValueId x, Shape target) {
  if (!Valid(x)) return kNoValue;
  if (shape(x) == target) return x;
  Attrs attrs;
  attrs.shape = std::move(target);
  return Emit(Op::kBroadcastTo, {x}, std::move(attrs));
}

ValueId Builder::Concat(std::vector<ValueId> xs, int64_t axis) {
  if (xs.empty()) {
    Fail(absl::InvalidArgumentError("concat: expected at least one input, got none"));
    return kNoValue;
  }
  if (!NormalizeAxis(Op::kConcat, xs[0], &axis)) return kNoValue;
  if (xs.size() == 1) return xs[0];
  Attrs attrs;
  attrs.axis = axis;
  return Emit(Op::kConcat, std::move(xs), std::move(attrs));
}

ValueId Builder::Slice(ValueId x, int64_t axis, int64_t begin, int64_t end) {
  if (!NormalizeAxis(Op::kSlice, x, &axis)) return kNoValue;
  Attrs attrs;
  attrs.axis = axis;
  attrs.begin = begin;
  attrs.end = end;
  return Emit(Op::kSlice, {x}, std::move(attrs));
}

ValueId Builder::Gather(ValueId params, ValueId indices) {
  return Emit(Op::kGather, {params, indices});
}

ValueId Builder::OneHot(ValueId indices, int64_t depth) {
  Attrs attrs;
  attrs.depth = depth;
  return Emit(Op::kOneHot, {indices}, std::move(attrs));
}

// ---- linear algebra and images --------------------------------------------------

ValueId Builder::MatMul(ValueId a, ValueId b, bool transpose_a, bool transpose_b) {
  Attrs attrs;
  attrs.transpose_a = transpose_a;
  attrs.transpose_b = transpose_b;
  return Emit(Op::kMatMul, {a, b}, std::move(attrs));
}

ValueId Builder::Conv2D(ValueId x, ValueId w, std::array<int64_t, 2> strides, Padding padding,
                        std::array<int64_t, 2> dilation) {
  Attrs attrs;
  attrs.strides = strides;
  attrs.padding = padding;
  attrs.dilation = dilation;
  return Emit(Op::kConv2D, {x, w}, std::move(attrs));
}

ValueId Builder::MaxPool2D(ValueId x, std::array<int64_t, 2> window, std::array<int64_t, 2> strides,
                           Padding padding) {
  Attrs attrs;
  attrs.window = window;
  attrs.strides = strides;
  attrs.padding = padding;
  return Emit(Op::kMaxPool2D, {x}, std::move(attrs));
}

ValueId Builder::AvgPool2D(ValueId x, std::array<int64_t, 2> window, std::array<int64_t, 2> strides,
                           Padding padding) {
  Attrs attrs;
  attrs.window = window;
  attrs.strides = strides;
  attrs.padding = padding;
  return Emit(Op::kAvgPool2D, {x}, std::move(attrs));
}

// ---- composites ------------------------------------------------------------------

// Shifted by the max along `axis` so exp never overflows.
ValueId Builder::Softmax(ValueId x, int64_t axis) {
  if (!NormalizeAxis(Op::kReduceMax, x, &axis)) return kNoValue;
  ValueId e = Exp(Sub(x, Max(x, {axis}, /*keepdims=*/true)));
  return Div(e, Sum(e, {axis}, /*keepdims=*/true));
}

ValueId Builder::LogSoftmax(ValueId x, int64_t axis) {
  if (!NormalizeAxis(Op::kReduceMax, x, &axis)) return kNoValue;
  ValueId shifted = Sub(x, Max(x, {axis}, /*keepdims=*/true));
  return Sub(shifted, Log(Sum(Exp(shifted), {axis}, /*keepdims=*/true)));
}

// relu(x) + log1p(exp(-|x|)): exact, and exp never overflows.
ValueId Builder::Softplus(ValueId x) { return Add(Relu(x), Unary(Op::kLog1p, Exp(Neg(Abs(x))))); }

ValueId Builder::Assign(int64_t index, ValueId value) {
  Attrs attrs;
  attrs.index = index;
  return Emit(Op::kAssign, {value}, std::move(attrs));
}

}  // namespace fornax
