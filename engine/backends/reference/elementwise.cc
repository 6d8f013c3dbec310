// Reference kernels for elementwise unary and binary ops, Where and Cast.
// Binary ops broadcast with NumPy rules. Floating ops compute in float32;
// Neg/Abs/Sign and Add/Sub/Mul/Maximum/Minimum also take int32/int64;
// comparisons take any dtype and store bool as uint8 0/1.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "engine/backends/reference/kernel_table.h"
#include "engine/backends/reference/kernel_util.h"
#include "engine/ir/fused_program.h"

namespace fornax::reference {
namespace {

void StoreInt(Tensor& t, int64_t i, int64_t v) {
  switch (t.dtype()) {
    case DType::kInt32:
      t.data<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    case DType::kInt64:
      t.data<int64_t>()[i] = v;
      break;
    case DType::kBool:
      t.data<uint8_t>()[i] = v != 0 ? 1 : 0;
      break;
    default:
      t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
  }
}

template <typename F>
void UnaryFloat(const KernelContext& ctx, F f) {
  const Tensor& x = ctx.inputs[0];
  Tensor& y = ctx.output;
  const int64_t n = y.num_elements();
  if (x.dtype() == DType::kFloat32 && y.dtype() == DType::kFloat32) {
    const float* in = x.data<float>();
    float* out = y.data<float>();
    for (int64_t i = 0; i < n; ++i) out[i] = f(in[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) StoreFloat(y, i, f(LoadFloat(x, i)));
}

// Float ops that also make sense on integers (Neg, Abs, Sign).
template <typename F, typename G>
void UnarySigned(const KernelContext& ctx, F float_fn, G int_fn) {
  const Tensor& x = ctx.inputs[0];
  if (!IsInteger(x.dtype())) return UnaryFloat(ctx, float_fn);
  const int64_t n = ctx.output.num_elements();
  for (int64_t i = 0; i < n; ++i) StoreInt(ctx.output, i, int_fn(LoadInt(x, i)));
}

template <typename F>
void BinaryFloat(const KernelContext& ctx, F f) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& y = ctx.output;
  const bool all_f32 =
      a.dtype() == DType::kFloat32 && b.dtype() == DType::kFloat32 && y.dtype() == DType::kFloat32;
  if (all_f32 && a.shape() == y.shape() && b.shape() == y.shape()) {
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* out = y.data<float>();
    const int64_t n = y.num_elements();
    for (int64_t i = 0; i < n; ++i) out[i] = f(pa[i], pb[i]);
    return;
  }
  ForEachBroadcast<2>(y.shape(), {&a.shape(), &b.shape()},
                      [&](int64_t i, const std::array<int64_t, 2>& off) {
                        StoreFloat(y, i, f(LoadFloat(a, off[0]), LoadFloat(b, off[1])));
                      });
}

// Arithmetic defined for floats and integers.
template <typename F, typename G>
void BinaryArith(const KernelContext& ctx, F float_fn, G int_fn) {
  if (!IsInteger(ctx.output.dtype())) return BinaryFloat(ctx, float_fn);
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& y = ctx.output;
  ForEachBroadcast<2>(y.shape(), {&a.shape(), &b.shape()},
                      [&](int64_t i, const std::array<int64_t, 2>& off) {
                        StoreInt(y, i, int_fn(LoadInt(a, off[0]), LoadInt(b, off[1])));
                      });
}

// Comparisons and logic: any input dtype, bool output.
template <typename F, typename G>
void Compare(const KernelContext& ctx, F float_cmp, G int_cmp) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  uint8_t* out = ctx.output.data<uint8_t>();
  const bool floating = IsFloating(a.dtype()) || IsFloating(b.dtype());
  ForEachBroadcast<2>(ctx.output.shape(), {&a.shape(), &b.shape()},
                      [&](int64_t i, const std::array<int64_t, 2>& off) {
                        bool r;
                        if (floating) {
                          r = float_cmp(LoadFloat(a, off[0]), LoadFloat(b, off[1]));
                        } else {
                          r = int_cmp(LoadInt(a, off[0]), LoadInt(b, off[1]));
                        }
                        out[i] = r ? 1 : 0;
                      });
}

void WhereKernel(const KernelContext& ctx) {
  const Tensor& cond = ctx.inputs[0];
  const Tensor& a = ctx.inputs[1];
  const Tensor& b = ctx.inputs[2];
  Tensor& y = ctx.output;
  const size_t width = DTypeSize(y.dtype());
  const uint8_t* c = cond.data<uint8_t>();
  const char* pa = static_cast<const char*>(a.raw_data());
  const char* pb = static_cast<const char*>(b.raw_data());
  char* out = static_cast<char*>(y.raw_data());
  ForEachBroadcast<3>(y.shape(), {&cond.shape(), &a.shape(), &b.shape()},
                      [&](int64_t i, const std::array<int64_t, 3>& off) {
                        const char* src = c[off[0]] != 0
                                              ? pa + off[1] * static_cast<int64_t>(width)
                                              : pb + off[2] * static_cast<int64_t>(width);
                        std::copy(src, src + width, out + i * static_cast<int64_t>(width));
                      });
}

// Float to integer: truncates toward zero, saturates, NaN becomes 0.
template <typename T>
int64_t SaturatingFloatToInt(float f) {
  if (std::isnan(f)) return 0;
  const double d = std::trunc(static_cast<double>(f));
  const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
  const double hi = static_cast<double>(std::numeric_limits<T>::max());
  return static_cast<int64_t>(std::clamp(d, lo, hi));
}

void CastKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  Tensor& y = ctx.output;
  const int64_t n = y.num_elements();
  const DType to = y.dtype();
  for (int64_t i = 0; i < n; ++i) {
    if (IsFloating(x.dtype())) {
      const float f = LoadFloat(x, i);
      switch (to) {
        case DType::kFloat32:
        case DType::kFloat16:
        case DType::kBFloat16:
          StoreFloat(y, i, f);
          break;
        case DType::kBool:
          y.data<uint8_t>()[i] = f != 0.0f ? 1 : 0;
          break;
        case DType::kInt32:
          StoreInt(y, i, SaturatingFloatToInt<int32_t>(f));
          break;
        case DType::kInt64:
          StoreInt(y, i, SaturatingFloatToInt<int64_t>(f));
          break;
        case DType::kUInt8:
          StoreInt(y, i, SaturatingFloatToInt<uint8_t>(f));
          break;
      }
    } else {
      const int64_t v = LoadInt(x, i);
      if (IsFloating(to)) {
        StoreFloat(y, i, static_cast<float>(v));
      } else {
        StoreInt(y, i, v);
      }
    }
  }
}

// Float semantics come from ApplyScalarOp (engine/ir/fused_program.h), the
// single definition fused and unfused kernels share; integer paths follow.
void FloatUnaryKernel(const KernelContext& ctx) {
  const Op op = ctx.node.op;
  UnaryFloat(ctx, [op](float x) { return ApplyScalarOp(op, x); });
}

void SignedUnaryKernel(const KernelContext& ctx) {
  const Op op = ctx.node.op;
  UnarySigned(
      ctx, [op](float x) { return ApplyScalarOp(op, x); },
      [op](int64_t x) -> int64_t {
        if (op == Op::kNeg) return -x;
        if (op == Op::kAbs) return x < 0 ? -x : x;
        return (x > 0) - (x < 0);  // kSign
      });
}

void FloatBinaryKernel(const KernelContext& ctx) {
  const Op op = ctx.node.op;
  BinaryFloat(ctx, [op](float a, float b) { return ApplyScalarOp(op, a, b); });
}

void ArithmeticKernel(const KernelContext& ctx) {
  const Op op = ctx.node.op;
  BinaryArith(
      ctx, [op](float a, float b) { return ApplyScalarOp(op, a, b); },
      [op](int64_t a, int64_t b) -> int64_t {
        switch (op) {
          case Op::kAdd:
            return a + b;
          case Op::kSub:
            return a - b;
          case Op::kMul:
            return a * b;
          case Op::kMaximum:
            return std::max(a, b);
          default:  // kMinimum
            return std::min(a, b);
        }
      });
}

void CompareKernel(const KernelContext& ctx) {
  const Op op = ctx.node.op;
  Compare(
      ctx, [op](float a, float b) { return ApplyScalarOp(op, a, b) != 0.0f; },
      [op](int64_t a, int64_t b) {
        switch (op) {
          case Op::kGreater:
            return a > b;
          case Op::kGreaterEqual:
            return a >= b;
          case Op::kLess:
            return a < b;
          case Op::kLessEqual:
            return a <= b;
          case Op::kEqual:
            return a == b;
          case Op::kNotEqual:
            return a != b;
          case Op::kLogicalAnd:
            return a != 0 && b != 0;
          default:  // kLogicalOr
            return a != 0 || b != 0;
        }
      });
}

void LogicalNotKernel(const KernelContext& ctx) {
  const uint8_t* in = ctx.inputs[0].data<uint8_t>();
  uint8_t* out = ctx.output.data<uint8_t>();
  for (int64_t i = 0; i < ctx.output.num_elements(); ++i) out[i] = in[i] != 0 ? 0 : 1;
}

void IsFiniteKernel(const KernelContext& ctx) {
  uint8_t* out = ctx.output.data<uint8_t>();
  for (int64_t i = 0; i < ctx.output.num_elements(); ++i) {
    out[i] = std::isfinite(LoadFloat(ctx.inputs[0], i)) ? 1 : 0;
  }
}

}  // namespace

void RegisterElementwiseKernels(KernelTable& t) {
  for (Op op : {Op::kExp, Op::kLog, Op::kLog1p, Op::kSqrt, Op::kRsqrt, Op::kTanh, Op::kSigmoid,
                Op::kRelu, Op::kErf, Op::kFloor}) {
    Register(t, op, FloatUnaryKernel);
  }
  for (Op op : {Op::kNeg, Op::kAbs, Op::kSign}) Register(t, op, SignedUnaryKernel);
  for (Op op : {Op::kAdd, Op::kSub, Op::kMul, Op::kMaximum, Op::kMinimum})
    Register(t, op, ArithmeticKernel);
  for (Op op : {Op::kDiv, Op::kPow}) Register(t, op, FloatBinaryKernel);
  for (Op op : {Op::kGreater, Op::kGreaterEqual, Op::kLess, Op::kLessEqual, Op::kEqual,
                Op::kNotEqual, Op::kLogicalAnd, Op::kLogicalOr}) {
    Register(t, op, CompareKernel);
  }
  Register(t, Op::kLogicalNot, LogicalNotKernel);
  Register(t, Op::kIsFinite, IsFiniteKernel);
  Register(t, Op::kCast, CastKernel);
  Register(t, Op::kWhere, WhereKernel);
}

}  // namespace fornax::reference
