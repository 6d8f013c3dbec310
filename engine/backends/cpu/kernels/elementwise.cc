// Float32 unary and binary elementwise kernels: one vectorizable loop per op,
// chosen outside the loop; broadcasting goes through BroadcastPlan so bias
// rows and scalars run as unit-stride or scalar operands.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/backends/cpu/kernels/broadcast.h"
#include "engine/backends/cpu/kernels/kernels.h"
#include "engine/backends/cpu/kernels/threads.h"
#include "engine/backends/reference/reference_backend.h"
#include "engine/ir/fused_program.h"
#include "engine/ir/op_classes.h"

namespace fornax::cpu {
namespace {

// From this many elements on, loops split across threads. Besides the
// arithmetic, splitting keeps each half of a tensor on the core whose cache
// already holds it (the sgemm that produced it split it the same way):
// raising this to 64k made the 2-thread MLP step 30% slower.
constexpr int64_t kParallelElements = 1 << 14;

template <typename F>
inline void Map1(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

// Binary loop with unit (1) or zero (0) inner strides for each operand. Out
// is float for arithmetic and uint8_t (bool) for comparisons.
template <typename Out, typename F>
inline void Map2(const float* a, int64_t sa, const float* b, int64_t sb, Out* y, int64_t n, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  } else if (sa == 1) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], bv);
  } else if (sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(av, b[i]);
  } else {
    const Out v = f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) y[i] = v;
  }
}

void BinaryLoop(Op op, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                int64_t n) {
  switch (op) {
    case Op::kAdd:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u + v; });
    case Op::kSub:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u - v; });
    case Op::kMul:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u * v; });
    case Op::kDiv:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u / v; });
    case Op::kMaximum:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u < v ? v : u; });
    case Op::kMinimum:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) { return v < u ? v : u; });
    default:
      return Map2(a, sa, b, sb, y, n, [op](float u, float v) { return ApplyScalarOp(op, u, v); });
  }
}

void CompareRow(Op op, const float* a, int64_t sa, const float* b, int64_t sb, uint8_t* y,
                int64_t n) {
  switch (op) {
    case Op::kGreater:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) -> uint8_t { return u > v; });
    case Op::kGreaterEqual:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) -> uint8_t { return u >= v; });
    case Op::kLess:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) -> uint8_t { return u < v; });
    case Op::kLessEqual:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) -> uint8_t { return u <= v; });
    case Op::kEqual:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) -> uint8_t { return u == v; });
    default:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) -> uint8_t { return u != v; });
  }
}

void UnaryKernel(const KernelContext& ctx) {
  const int64_t n = ctx.output.num_elements();
  const float* x = ctx.inputs[0].data<float>();
  float* y = ctx.output.data<float>();
  const Op op = ctx.node.op;
  const int64_t chunk = 4096;
  const int64_t chunks = (n + chunk - 1) / chunk;
  ParallelFor(chunks, n >= kParallelElements, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      const int64_t begin = c * chunk;
      UnaryLoop(op, x + begin, y + begin, std::min(chunk, n - begin));
    }
  });
}

template <bool kCompare>
void BinaryKernel(const KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  if (ctx.output.num_elements() == 0) return;
  const Shape* shapes[2] = {&a.shape(), &b.shape()};
  const BroadcastPlan plan = MakeBroadcastPlan(ctx.output.shape(), shapes);
  const int64_t inner = plan.inner();
  const int64_t rows = plan.outer();
  const int64_t sa = plan.strides[0].back();
  const int64_t sb = plan.strides[1].back();
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const Op op = ctx.node.op;
  // Split long rows so a flat same-shape op also parallelizes.
  const int64_t chunk = inner > 4096 ? 4096 : inner;
  const int64_t per_row = (inner + chunk - 1) / chunk;
  const int64_t items = rows * per_row;
  ParallelFor(items, rows * inner >= kParallelElements, [&](int64_t first, int64_t last) {
    for (int64_t item = first; item < last; ++item) {
      const int64_t row = item / per_row;
      const int64_t begin = (item % per_row) * chunk;
      int64_t offsets[2];
      plan.RowOffsets(row, offsets);
      const float* ra = pa + offsets[0] + begin * sa;
      const float* rb = pb + offsets[1] + begin * sb;
      const int64_t out = row * inner + begin;
      const int64_t n = std::min(chunk, inner - begin);
      if constexpr (kCompare) {
        CompareRow(op, ra, sa, rb, sb, ctx.output.data<uint8_t>() + out, n);
      } else {
        BinaryLoop(op, ra, sa, rb, sb, ctx.output.data<float>() + out, n);
      }
    }
  });
}

// std::sqrt sets errno on negative input, so GCC will not vectorize it;
// vsqrtps is correctly rounded, hence bitwise equal to std::sqrt.
template <bool kReciprocal>
void SqrtLoop(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 r = _mm256_sqrt_ps(_mm256_loadu_ps(x + i));
    if constexpr (kReciprocal) r = _mm256_div_ps(one, r);
    _mm256_storeu_ps(y + i, r);
  }
  for (; i < n; ++i) y[i] = kReciprocal ? 1.0f / std::sqrt(x[i]) : std::sqrt(x[i]);
}

void CompareKernel(const KernelContext& ctx) {
  if (ctx.inputs[0].dtype() == DType::kFloat32 && ctx.inputs[1].dtype() == DType::kFloat32) {
    BinaryKernel<true>(ctx);
  } else {
    ReferenceKernel(ctx.node.op)(ctx);
  }
}

}  // namespace

void UnaryLoop(Op op, const float* x, float* y, int64_t n) {
  switch (op) {
    case Op::kNeg:
      return Map1(x, y, n, [](float v) { return -v; });
    case Op::kRelu:
      return Map1(x, y, n, [](float v) { return v < 0.0f ? 0.0f : v; });
    case Op::kAbs:
      return Map1(x, y, n, [](float v) { return std::fabs(v); });
    case Op::kSqrt:
      return SqrtLoop<false>(x, y, n);
    case Op::kRsqrt:
      return SqrtLoop<true>(x, y, n);
    case Op::kFloor:
      return Map1(x, y, n, [](float v) { return std::floor(v); });
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = ApplyScalarOp(op, x[i]);
      return;
  }
}

KernelFn FindElementwiseKernel(const Node& node) {
  // Comparisons are chosen by their bool output; the kernel checks at run
  // time that the inputs are float32 (the node does not record input dtypes).
  if (node.dtype == DType::kBool && IsCompareOp(node.op)) return &CompareKernel;
  if (node.dtype != DType::kFloat32) return nullptr;
  if (IsUnaryMathOp(node.op)) return &UnaryKernel;
  if (IsBinaryArithmeticOp(node.op)) return &BinaryKernel<false>;
  return nullptr;
}

}  // namespace fornax::cpu
