// Float32 reductions over one contiguous run of axes. The input is viewed as
// [outer, reduced, inner]: inner == 1 is a row reduction (softmax max/sum,
// per-sample losses), otherwise rows of `inner` are accumulated in order
// (bias gradients: sum over the batch). Summation order depends only on the
// shape, never on the thread count, so results are reproducible.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/backends/cpu/kernels/kernels.h"
#include "engine/backends/cpu/kernels/threads.h"

namespace fornax::cpu {
namespace {

constexpr int kLanes = 16;

struct Geometry {
  int64_t outer = 1, reduced = 1, inner = 1;
};

// The reduced axes of `node`, which FindReduceKernel checked are contiguous.
Geometry MakeGeometry(const Node& node, const Shape& in) {
  const auto& axes = node.attrs.axes;
  Geometry g;
  if (axes.empty()) return g;  // handled as "reduce nothing" by the caller
  for (int d = 0; d < in.rank(); ++d) {
    if (d < axes.front()) {
      g.outer *= in.dim(d);
    } else if (d <= axes.back()) {
      g.reduced *= in.dim(d);
    } else {
      g.inner *= in.dim(d);
    }
  }
  return g;
}

float RowSum(const float* x, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) acc[k] += x[i + k];
  }
  for (int k = 0; i < n; ++i, ++k) acc[k] += x[i];
  for (int w = kLanes / 2; w > 0; w /= 2) {
    for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
  }
  return acc[0];
}

float RowMax(const float* x, int64_t n) {
  float acc[kLanes];
  std::fill(acc, acc + kLanes, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) acc[k] = acc[k] < x[i + k] ? x[i + k] : acc[k];
  }
  for (int k = 0; i < n; ++i, ++k) acc[k] = acc[k] < x[i] ? x[i] : acc[k];
  for (int w = kLanes / 2; w > 0; w /= 2) {
    for (int k = 0; k < w; ++k) acc[k] = acc[k] < acc[k + w] ? acc[k + w] : acc[k];
  }
  return acc[0];
}

// Tall, narrow reductions (a conv bias gradient sums N*H*W rows of C): a
// fixed number of row ranges are reduced in parallel, then combined in
// order, so the result does not depend on the thread count.
constexpr int kParts = 8;

template <bool kMax>
void Combine(float* acc, const float* row, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (kMax) {
      acc[i] = acc[i] < row[i] ? row[i] : acc[i];
    } else {
      acc[i] += row[i];
    }
  }
}

template <bool kMax>
void TallColumns(const float* src, const Geometry& g, bool mean, float* dst) {
  std::vector<float> partial(static_cast<size_t>(kParts * g.inner));
  const int64_t per = (g.reduced + kParts - 1) / kParts;
  ParallelFor(kParts, true, [&](int64_t first, int64_t last) {
    for (int64_t p = first; p < last; ++p) {
      const int64_t r0 = p * per;
      const int64_t r1 = std::min(g.reduced, r0 + per);
      float* acc = partial.data() + p * g.inner;
      std::copy(src + r0 * g.inner, src + (r0 + 1) * g.inner, acc);
      for (int64_t r = r0 + 1; r < r1; ++r) Combine<kMax>(acc, src + r * g.inner, g.inner);
    }
  });
  std::copy(partial.begin(), partial.begin() + g.inner, dst);
  for (int p = 1; p < kParts; ++p) Combine<kMax>(dst, partial.data() + p * g.inner, g.inner);
  if (mean) {
    for (int64_t i = 0; i < g.inner; ++i) dst[i] /= static_cast<float>(g.reduced);
  }
}

template <bool kMax>
void Reduce(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Geometry g = MakeGeometry(ctx.node, x.shape());
  const float* src = x.data<float>();
  float* dst = ctx.output.data<float>();
  const bool mean = ctx.node.op == Op::kReduceMean;
  const int64_t work = g.outer * g.reduced * g.inner;
  if (g.reduced == 0) {  // an empty reduction: the sum is 0 (max/mean stay 0 too)
    std::fill(dst, dst + ctx.output.num_elements(), 0.0f);
    return;
  }
  if (g.inner == 1) {
    ParallelFor(g.outer, work >= (1 << 16), [&](int64_t first, int64_t last) {
      for (int64_t o = first; o < last; ++o) {
        const float* row = src + o * g.reduced;
        if constexpr (kMax) {
          dst[o] = RowMax(row, g.reduced);
        } else {
          const float s = RowSum(row, g.reduced);
          dst[o] = mean ? s / static_cast<float>(g.reduced) : s;
        }
      }
    });
    return;
  }
  if (g.outer == 1 && g.inner <= 1024 && g.reduced >= kParts * 512) {
    TallColumns<kMax>(src, g, mean, dst);
    return;
  }
  // Columns are independent: split them into chunks across threads.
  const int64_t chunk = 256;
  const int64_t chunks = (g.inner + chunk - 1) / chunk;
  const int64_t items = g.outer * chunks;
  ParallelFor(items, work >= (1 << 16), [&](int64_t first, int64_t last) {
    for (int64_t item = first; item < last; ++item) {
      const int64_t o = item / chunks;
      const int64_t begin = (item % chunks) * chunk;
      const int64_t n = std::min(chunk, g.inner - begin);
      float* out = dst + o * g.inner + begin;
      const float* base = src + o * g.reduced * g.inner + begin;
      std::copy(base, base + n, out);
      for (int64_t r = 1; r < g.reduced; ++r) {
        const float* row = base + r * g.inner;
        if constexpr (kMax) {
          for (int64_t i = 0; i < n; ++i) out[i] = out[i] < row[i] ? row[i] : out[i];
        } else {
          for (int64_t i = 0; i < n; ++i) out[i] += row[i];
        }
      }
      if (mean) {
        for (int64_t i = 0; i < n; ++i) out[i] /= static_cast<float>(g.reduced);
      }
    }
  });
}

}  // namespace

KernelFn FindReduceKernel(const Node& node) {
  if (node.dtype != DType::kFloat32) return nullptr;
  if (node.op != Op::kReduceSum && node.op != Op::kReduceMean && node.op != Op::kReduceMax) {
    return nullptr;
  }
  const auto& axes = node.attrs.axes;
  if (axes.empty()) return nullptr;
  for (size_t i = 1; i < axes.size(); ++i) {
    if (axes[i] != axes[i - 1] + 1) return nullptr;
  }
  return node.op == Op::kReduceMax ? &Reduce<true> : &Reduce<false>;
}

}  // namespace fornax::cpu
