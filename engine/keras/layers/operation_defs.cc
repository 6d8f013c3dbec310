// The Keras operations Fornax runs (keras.src.ops.numpy / core / nn / math),
// each emitted from existing IR ops, so gradients come from their rules.
// Dtype rules follow Keras 3 on JAX: float functions (exp, sqrt, true divide,
// mean) turn bool and int operands into float32; arithmetic keeps ints (bool
// becomes int32, except bool + bool = or and bool * bool = and); comparisons
// and logic give bool; Python scalars adopt the tensor's dtype when that
// loses nothing (the Builder's weak constants).
#include "engine/keras/layers/operation_defs.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

// ---- dtype helpers -------------------------------------------------------------

ValueId ToFloat(Builder& b, ValueId x) {
  return IsFloating(b.dtype(x)) ? x : b.Cast(x, DType::kFloat32);
}
ValueId ToBool(Builder& b, ValueId x) {
  if (b.dtype(x) == DType::kBool) return x;
  return b.Binary(Op::kNotEqual, x, b.Scalar(0, b.dtype(x)));
}
ValueId BoolToInt(Builder& b, ValueId x) {
  return b.dtype(x) == DType::kBool ? b.Cast(x, DType::kInt32) : x;
}
void Fail(Builder& b, const std::string& message) { b.Fail(absl::InvalidArgumentError(message)); }
// Axis `a` of a rank-`rank` result, or -1 (recorded in `b`) when out of range.
int64_t Axis(Builder& b, int64_t a, int rank) {
  if (a < -rank || a >= rank) {
    Fail(b, absl::StrCat("axis ", a, " is out of bounds for a tensor of rank ", rank));
    return -1;
  }
  return a < 0 ? a + rank : a;
}
// Keras's shapes lead with the batch; an op may not move it.
bool KeepsBatch(Builder& b, ValueId x, int64_t new_axis_or_first, const char* what) {
  if (b.shape(x).rank() > 0 && b.shape(x).dim(0) == kBatch && new_axis_or_first == 0) {
    Fail(b, absl::StrCat(what, " would move the batch dimension away from axis 0"));
    return false;
  }
  return true;
}

// x with size-1 dims inserted at `axes` (of the result).
ValueId ExpandDims(Builder& b, ValueId x, std::vector<int64_t> axes) {
  const int rank = b.rank(x) + static_cast<int>(axes.size());
  for (int64_t& a : axes) {
    a = Axis(b, a, rank);
    if (a < 0 || !KeepsBatch(b, x, a, "expand_dims at axis 0")) return kNoValue;
  }
  std::vector<int64_t> dims;
  const Shape in = b.shape(x);
  int next = 0;
  for (int d = 0; d < rank; ++d) {
    dims.push_back(std::count(axes.begin(), axes.end(), d) ? 1 : in.dim(next++));
  }
  return b.Reshape(x, Shape(dims));
}

// ---- emitters ------------------------------------------------------------------

using Args = std::span<const OpValue>;

template <Op kOp>
ValueId FloatUnary(Builder& b, const OpAttrs&, Args a) {
  return b.Unary(kOp, ToFloat(b, a[0].value));
}
template <Op kOp>
ValueId NumericUnary(Builder& b, const OpAttrs&, Args a) {
  return b.Unary(kOp, BoolToInt(b, a[0].value));
}
ValueId EmitSquare(Builder& b, const OpAttrs&, Args a) {
  return b.Square(BoolToInt(b, a[0].value));
}
ValueId EmitRelu(Builder& b, const OpAttrs&, Args a) {
  ValueId x = BoolToInt(b, a[0].value);
  return IsFloating(b.dtype(x)) ? b.Relu(x) : b.Maximum(x, b.Scalar(0, b.dtype(x)));
}
ValueId EmitSoftplus(Builder& b, const OpAttrs&, Args a) {
  return b.Softplus(ToFloat(b, a[0].value));
}
ValueId EmitSoftmax(Builder& b, const OpAttrs& attrs, Args a) {
  if (attrs.axes->size() != 1) {
    Fail(b, "softmax over several axes is not supported");
    return kNoValue;
  }
  return b.Softmax(ToFloat(b, a[0].value), (*attrs.axes)[0]);
}

template <Op kOp>
ValueId Arithmetic(Builder& b, const OpAttrs&, Args a) {
  ValueId x = a[0].value;
  ValueId y = a[1].value;
  if (b.dtype(x) == DType::kBool && b.dtype(y) == DType::kBool) {
    if (kOp == Op::kAdd || kOp == Op::kMaximum) return b.Binary(Op::kLogicalOr, x, y);
    if (kOp == Op::kMul || kOp == Op::kMinimum) return b.Binary(Op::kLogicalAnd, x, y);
    Fail(b, "numpy boolean subtract is not supported; use logical_xor");
    return kNoValue;
  }
  return b.Binary(kOp, BoolToInt(b, x), BoolToInt(b, y));
}
ValueId EmitDivide(Builder& b, const OpAttrs&, Args a) {
  return b.Div(ToFloat(b, a[0].value), ToFloat(b, a[1].value));
}
ValueId EmitPower(Builder& b, const OpAttrs&, Args a) {
  ValueId x = BoolToInt(b, a[0].value);
  ValueId y = BoolToInt(b, a[1].value);
  if (IsFloating(b.dtype(x)) || IsFloating(b.dtype(y))) return b.Pow(x, y);
  // Integer powers: the float kernel is exact for the small results ints hold.
  const DType out =
      b.dtype(x) == DType::kInt64 || b.dtype(y) == DType::kInt64 ? DType::kInt64 : DType::kInt32;
  return b.Cast(b.Pow(ToFloat(b, x), ToFloat(b, y)), out);
}
template <Op kOp>
ValueId Compare(Builder& b, const OpAttrs&, Args a) {
  return b.Binary(kOp, a[0].value, a[1].value);
}
template <Op kOp>
ValueId Logic(Builder& b, const OpAttrs&, Args a) {
  return b.Binary(kOp, ToBool(b, a[0].value), ToBool(b, a[1].value));
}
ValueId EmitLogicalNot(Builder& b, const OpAttrs&, Args a) {
  return b.Unary(Op::kLogicalNot, ToBool(b, a[0].value));
}
ValueId EmitWhere(Builder& b, const OpAttrs&, Args a) {
  return b.Where(ToBool(b, a[0].value), a[1].value, a[2].value);
}
ValueId EmitCast(Builder& b, const OpAttrs& attrs, Args a) {
  if (*attrs.dtype == DType::kBool) return ToBool(b, a[0].value);
  return b.Cast(a[0].value, *attrs.dtype);
}
template <int kValue>
ValueId FillLike(Builder& b, const OpAttrs& attrs, Args a) {
  ValueId x = a[0].value;
  return b.Fill(kValue, attrs.dtype.value_or(b.dtype(x)), b.shape(x));
}
ValueId EmitClip(Builder& b, const OpAttrs& attrs, Args a) {
  ValueId x = BoolToInt(b, a[0].value);
  auto bound = [&](double v) {
    const bool integral = v == static_cast<double>(static_cast<int64_t>(v));
    return b.Scalar(v, IsFloating(b.dtype(x)) || !integral ? b.dtype(x) : DType::kInt32);
  };
  ValueId lo = bound(attrs.low);
  ValueId hi = bound(attrs.high);
  return b.Minimum(b.Maximum(x, lo), hi);
}

ValueId EmitExpandDims(Builder& b, const OpAttrs& attrs, Args a) {
  return ExpandDims(b, a[0].value, *attrs.axes);
}
ValueId EmitSqueeze(Builder& b, const OpAttrs& attrs, Args a) {
  ValueId x = a[0].value;
  const Shape in = b.shape(x);
  std::vector<bool> drop(static_cast<size_t>(in.rank()), false);
  if (attrs.axes) {
    for (int64_t axis : *attrs.axes) {
      const int64_t d = Axis(b, axis, in.rank());
      if (d < 0) return kNoValue;
      if (in.dim(static_cast<int>(d)) != 1) {
        Fail(b, absl::StrCat("cannot squeeze axis ", axis, " of shape ", in.ToString(),
                             ": its size is not 1"));
        return kNoValue;
      }
      drop[static_cast<size_t>(d)] = true;
    }
  } else {
    for (int d = 0; d < in.rank(); ++d) drop[static_cast<size_t>(d)] = in.dim(d) == 1;
  }
  std::vector<int64_t> dims;
  for (int d = 0; d < in.rank(); ++d) {
    if (!drop[static_cast<size_t>(d)]) dims.push_back(in.dim(d));
  }
  return b.Reshape(x, Shape(dims));
}
ValueId EmitReshape(Builder& b, const OpAttrs& attrs, Args a) {
  ValueId x = a[0].value;
  if (b.shape(x).HasBatch() && (attrs.shape.empty() || attrs.shape[0] != -1)) {
    Fail(b, "newshape must start with -1, the batch dimension");
    return kNoValue;
  }
  return b.Reshape(x, Shape(attrs.shape));  // a leading -1 is kBatch
}
ValueId EmitTranspose(Builder& b, const OpAttrs& attrs, Args a) {
  ValueId x = a[0].value;
  const int rank = b.rank(x);
  std::vector<int64_t> perm(static_cast<size_t>(rank));
  std::iota(perm.rbegin(), perm.rend(), 0);
  if (attrs.axes) {
    if (static_cast<int>(attrs.axes->size()) != rank) {
      Fail(b,
           absl::StrCat("axes has ", attrs.axes->size(), " entries; the tensor has rank ", rank));
      return kNoValue;
    }
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = Axis(b, (*attrs.axes)[i], rank);
  }
  if (!perm.empty() && perm[0] != 0 && !KeepsBatch(b, x, 0, "this transpose")) return kNoValue;
  return b.Transpose(x, perm);
}

std::vector<int64_t> ReduceAxes(Builder& b, const OpAttrs& attrs, ValueId x) {
  if (attrs.axes) return *attrs.axes;
  std::vector<int64_t> all(static_cast<size_t>(b.rank(x)));
  std::iota(all.begin(), all.end(), 0);
  return all;
}
ValueId EmitSum(Builder& b, const OpAttrs& attrs, Args a) {
  ValueId x = BoolToInt(b, a[0].value);
  return b.Sum(x, ReduceAxes(b, attrs, x), attrs.keepdims);
}
ValueId EmitMean(Builder& b, const OpAttrs& attrs, Args a) {
  ValueId x = ToFloat(b, a[0].value);
  return b.Mean(x, ReduceAxes(b, attrs, x), attrs.keepdims);
}
template <bool kMax>
ValueId EmitMaxMin(Builder& b, const OpAttrs& attrs, Args a) {
  const DType dtype = b.dtype(a[0].value);
  ValueId x = BoolToInt(b, a[0].value);
  const std::vector<int64_t> axes = ReduceAxes(b, attrs, x);
  ValueId y = kMax ? b.Max(x, axes, attrs.keepdims) : b.Neg(b.Max(b.Neg(x), axes, attrs.keepdims));
  return dtype == DType::kBool ? ToBool(b, y) : y;
}

ValueId EmitMatmul(Builder& b, const OpAttrs&, Args a) {
  ValueId x = BoolToInt(b, a[0].value);
  ValueId y = BoolToInt(b, a[1].value);
  if (b.rank(x) < 2 || b.rank(y) < 2) {
    Fail(b, "matmul of rank-1 operands is not supported");
    return kNoValue;
  }
  if (b.rank(x) == 2 && b.rank(y) == 2) return b.MatMul(x, y);
  // Batched: (..., n, k, 1) * (..., 1, k, m) summed over k, broadcasting the
  // leading dims as NumPy's matmul does.
  return b.Sum(b.Mul(ExpandDims(b, x, {-1}), ExpandDims(b, y, {-3})), {-2});
}

// The common dtype of a list (ops.concatenate / stack promote their inputs).
std::vector<ValueId> Promoted(Builder& b, const std::vector<ValueId>& xs) {
  DType common = DType::kBool;
  for (ValueId x : xs) {
    const DType d = b.dtype(x);
    if (IsFloating(d)) {
      common = (IsFloating(common) && common != d) ? DType::kFloat32 : d;
    } else if (!IsFloating(common) && d != DType::kBool) {
      common = common == DType::kInt64 || d == DType::kInt64 ? DType::kInt64 : DType::kInt32;
    }
  }
  std::vector<ValueId> out;
  for (ValueId x : xs) out.push_back(b.Cast(x, common));
  return out;
}
ValueId EmitConcatenate(Builder& b, const OpAttrs& attrs, Args a) {
  const std::vector<ValueId> xs = Promoted(b, a[0].list);
  if (!xs.empty() && !KeepsBatch(b, xs[0], Axis(b, (*attrs.axes)[0], b.rank(xs[0])),
                                 "concatenating along axis 0")) {
    return kNoValue;
  }
  return b.Concat(xs, (*attrs.axes)[0]);
}
ValueId EmitStack(Builder& b, const OpAttrs& attrs, Args a) {
  std::vector<ValueId> xs;
  for (ValueId x : Promoted(b, a[0].list)) xs.push_back(ExpandDims(b, x, *attrs.axes));
  return b.Concat(xs, (*attrs.axes)[0]);
}

// ---- config readers ------------------------------------------------------------

absl::Status ParseOptionalAxis(const ConfigView& cfg, OpAttrs* attrs) {
  if (cfg.Has("axis")) {
    FORNAX_ASSIGN_OR_RETURN(attrs->axes, cfg.IntOrInts("axis"));
  }
  return absl::OkStatus();
}
absl::Status ParseReduce(const ConfigView& cfg, OpAttrs* attrs) {
  FORNAX_RETURN_IF_ERROR(ParseOptionalAxis(cfg, attrs));
  FORNAX_ASSIGN_OR_RETURN(attrs->keepdims, cfg.Bool("keepdims", false));
  if (cfg.Has("initial")) return cfg.ArgumentError("initial", "None");
  return absl::OkStatus();
}
absl::Status ParseRequiredAxis(const ConfigView& cfg, OpAttrs* attrs) {
  FORNAX_ASSIGN_OR_RETURN(attrs->axes, cfg.IntOrInts("axis"));
  return absl::OkStatus();
}
template <int kDefault>
absl::Status ParseOneAxis(const ConfigView& cfg, OpAttrs* attrs) {
  FORNAX_ASSIGN_OR_RETURN(int64_t axis, cfg.Int("axis", kDefault));
  attrs->axes = std::vector<int64_t>{axis};
  return absl::OkStatus();
}
absl::Status ParseSoftmax(const ConfigView& cfg, OpAttrs* attrs) {
  FORNAX_ASSIGN_OR_RETURN(attrs->axes, cfg.IntOrInts("axis", std::vector<int64_t>{-1}));
  return absl::OkStatus();
}
absl::Status ParseCast(const ConfigView& cfg, OpAttrs* attrs) {
  if (!cfg.Has("dtype")) return cfg.ArgumentError("dtype", "a dtype name");
  FORNAX_ASSIGN_OR_RETURN(attrs->dtype, cfg.LayerDType("dtype"));
  return absl::OkStatus();
}
absl::Status ParseLike(const ConfigView& cfg, OpAttrs* attrs) {
  if (cfg.Has("dtype")) {
    FORNAX_ASSIGN_OR_RETURN(attrs->dtype, cfg.LayerDType("dtype"));
  }
  return absl::OkStatus();
}
absl::Status ParseReshape(const ConfigView& cfg, OpAttrs* attrs) {
  const std::string key = cfg.Has("newshape") ? "newshape" : "new_shape";
  FORNAX_ASSIGN_OR_RETURN(attrs->shape, cfg.IntOrInts(key));
  return absl::OkStatus();
}
absl::Status ParseTranspose(const ConfigView& cfg, OpAttrs* attrs) {
  if (cfg.Has("axes")) {
    FORNAX_ASSIGN_OR_RETURN(attrs->axes, cfg.IntOrInts("axes"));
  }
  return absl::OkStatus();
}
absl::Status ParseClip(const ConfigView& cfg, OpAttrs* attrs) {
  FORNAX_ASSIGN_OR_RETURN(attrs->low, cfg.Float("x_min"));
  FORNAX_ASSIGN_OR_RETURN(attrs->high, cfg.Float("x_max"));
  return absl::OkStatus();
}

constexpr OperationDef kDefs[] = {
    // keras.src.ops.core
    {"Cast", 1, false, ParseCast, EmitCast},
    // keras.src.ops.numpy: elementwise
    {"Absolute", 1, false, nullptr, NumericUnary<Op::kAbs>},
    {"Negative", 1, false, nullptr, NumericUnary<Op::kNeg>},
    {"Sign", 1, false, nullptr, NumericUnary<Op::kSign>},
    {"Square", 1, false, nullptr, EmitSquare},
    {"Exp", 1, false, nullptr, FloatUnary<Op::kExp>},
    {"Log", 1, false, nullptr, FloatUnary<Op::kLog>},
    {"Log1p", 1, false, nullptr, FloatUnary<Op::kLog1p>},
    {"Sqrt", 1, false, nullptr, FloatUnary<Op::kSqrt>},
    {"Tanh", 1, false, nullptr, FloatUnary<Op::kTanh>},
    {"Add", 2, false, nullptr, Arithmetic<Op::kAdd>},
    {"Subtract", 2, false, nullptr, Arithmetic<Op::kSub>},
    {"Multiply", 2, false, nullptr, Arithmetic<Op::kMul>},
    {"Maximum", 2, false, nullptr, Arithmetic<Op::kMaximum>},
    {"Minimum", 2, false, nullptr, Arithmetic<Op::kMinimum>},
    {"Divide", 2, false, nullptr, EmitDivide},
    {"TrueDivide", 2, false, nullptr, EmitDivide},
    {"Power", 2, false, nullptr, EmitPower},
    {"Clip", 1, false, ParseClip, EmitClip},
    {"Equal", 2, false, nullptr, Compare<Op::kEqual>},
    {"NotEqual", 2, false, nullptr, Compare<Op::kNotEqual>},
    {"Greater", 2, false, nullptr, Compare<Op::kGreater>},
    {"GreaterEqual", 2, false, nullptr, Compare<Op::kGreaterEqual>},
    {"Less", 2, false, nullptr, Compare<Op::kLess>},
    {"LessEqual", 2, false, nullptr, Compare<Op::kLessEqual>},
    {"LogicalAnd", 2, false, nullptr, Logic<Op::kLogicalAnd>},
    {"LogicalOr", 2, false, nullptr, Logic<Op::kLogicalOr>},
    {"LogicalXor", 2, false, nullptr, Logic<Op::kNotEqual>},
    {"LogicalNot", 1, false, nullptr, EmitLogicalNot},
    {"Where", 3, false, nullptr, EmitWhere},
    {"ZerosLike", 1, false, ParseLike, FillLike<0>},
    {"OnesLike", 1, false, ParseLike, FillLike<1>},
    // keras.src.ops.numpy: shapes, reductions, products
    {"ExpandDims", 1, false, ParseRequiredAxis, EmitExpandDims},
    {"Squeeze", 1, false, ParseOptionalAxis, EmitSqueeze},
    {"Reshape", 1, false, ParseReshape, EmitReshape},
    {"Transpose", 1, false, ParseTranspose, EmitTranspose},
    {"Sum", 1, false, ParseReduce, EmitSum},
    {"Mean", 1, false, ParseReduce, EmitMean},
    {"Max", 1, false, ParseReduce, EmitMaxMin<true>},
    {"Min", 1, false, ParseReduce, EmitMaxMin<false>},
    {"Matmul", 2, false, nullptr, EmitMatmul},
    {"Concatenate", 1, true, ParseOneAxis<0>, EmitConcatenate},
    {"Stack", 1, true, ParseOneAxis<0>, EmitStack},
    // keras.src.ops.nn and keras.src.ops.math
    {"Relu", 1, false, nullptr, EmitRelu},
    {"Sigmoid", 1, false, nullptr, FloatUnary<Op::kSigmoid>},
    {"Softplus", 1, false, nullptr, EmitSoftplus},
    {"Softmax", 1, false, ParseSoftmax, EmitSoftmax},
    {"Rsqrt", 1, false, nullptr, FloatUnary<Op::kRsqrt>},
    {"Erf", 1, false, nullptr, FloatUnary<Op::kErf>},
};

}  // namespace

const OperationDef* FindOperationDef(const std::string& class_name) {
  for (const OperationDef& def : kDefs) {
    if (class_name == def.class_name) return &def;
  }
  return nullptr;
}

std::vector<std::string> OperationClassNames() {
  std::vector<std::string> names;
  for (const OperationDef& def : kDefs) names.emplace_back(def.class_name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace fornax
