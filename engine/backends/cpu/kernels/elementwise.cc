// Float32 unary and binary elementwise kernels: one vectorizable loop per op,
// chosen outside the loop; broadcasting goes through BroadcastPlan so bias
// rows and scalars run as unit-stride or scalar operands.
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/backends/cpu/kernels/broadcast.h"
#include "engine/backends/cpu/kernels/kernels.h"
#include "engine/ir/fused_program.h"

namespace fornax::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelElements = 1 << 15;

template <typename F>
inline void Map1(const float* x, float* y, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

// Binary loop with unit (1) or zero (0) inner strides for each operand.
template <typename F>
inline void Map2(const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                 int64_t n, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  } else if (sa == 1) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], bv);
  } else if (sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) y[i] = f(av, b[i]);
  } else {
    const float v = f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) y[i] = v;
  }
}

void BinaryLoop(Op op, const float* a, int64_t sa, const float* b, int64_t sb, float* y,
                int64_t n) {
  switch (op) {
    case Op::kAdd: return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u + v; });
    case Op::kSub: return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u - v; });
    case Op::kMul: return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u * v; });
    case Op::kDiv: return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u / v; });
    case Op::kMaximum:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) { return u < v ? v : u; });
    case Op::kMinimum:
      return Map2(a, sa, b, sb, y, n, [](float u, float v) { return v < u ? v : u; });
    default:
      return Map2(a, sa, b, sb, y, n, [op](float u, float v) { return ApplyScalarOp(op, u, v); });
  }
}

bool IsFastBinaryOp(Op op) {
  switch (op) {
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kMaximum:
    case Op::kMinimum:
    case Op::kPow:
      return true;
    default:
      return false;
  }
}

void UnaryKernel(const KernelContext& ctx) {
  const int64_t n = ctx.output.num_elements();
  const float* x = ctx.inputs[0].data<float>();
  float* y = ctx.output.data<float>();
  const Op op = ctx.node.op;
  const int64_t chunk = 4096;
  const int64_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(NumThreads()) schedule(static) if (n >= kParallelElements)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * chunk;
    UnaryLoop(op, x + begin, y + begin, std::min(chunk, n - begin));
  }
}

void BinaryKernel(const KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  float* y = ctx.output.data<float>();
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
#pragma omp parallel for num_threads(NumThreads()) schedule(static) \
    if (rows * inner >= kParallelElements)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t row = item / per_row;
    const int64_t begin = (item % per_row) * chunk;
    int64_t offsets[2];
    plan.RowOffsets(row, offsets);
    BinaryLoop(op, pa + offsets[0] + begin * sa, sa, pb + offsets[1] + begin * sb, sb,
               y + row * inner + begin, std::min(chunk, inner - begin));
  }
}

}  // namespace

bool IsFastUnaryOp(Op op) {
  switch (op) {
    case Op::kNeg:
    case Op::kExp:
    case Op::kLog:
    case Op::kLog1p:
    case Op::kSqrt:
    case Op::kRsqrt:
    case Op::kTanh:
    case Op::kSigmoid:
    case Op::kRelu:
    case Op::kAbs:
    case Op::kSign:
    case Op::kErf:
    case Op::kFloor:
      return true;
    default:
      return false;
  }
}

void UnaryLoop(Op op, const float* x, float* y, int64_t n) {
  switch (op) {
    case Op::kNeg: return Map1(x, y, n, [](float v) { return -v; });
    case Op::kRelu: return Map1(x, y, n, [](float v) { return v < 0.0f ? 0.0f : v; });
    case Op::kAbs: return Map1(x, y, n, [](float v) { return std::fabs(v); });
    case Op::kSqrt: return Map1(x, y, n, [](float v) { return std::sqrt(v); });
    case Op::kRsqrt: return Map1(x, y, n, [](float v) { return 1.0f / std::sqrt(v); });
    case Op::kFloor: return Map1(x, y, n, [](float v) { return std::floor(v); });
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = ApplyScalarOp(op, x[i]);
      return;
  }
}

KernelFn FindElementwiseKernel(const Node& node) {
  if (node.dtype != DType::kFloat32) return nullptr;
  if (IsFastUnaryOp(node.op)) return &UnaryKernel;
  if (IsFastBinaryOp(node.op)) return &BinaryKernel;
  return nullptr;
}

}  // namespace fornax::cpu
