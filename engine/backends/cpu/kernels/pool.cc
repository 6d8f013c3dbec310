// Max and average pooling, forward and backward, NHWC float32. Direct loops
// vectorized over channels: for 2x2 windows they beat a oneDNN round trip,
// and MaxPool2DGrad must send dy to the *first* max of each window (the IR's
// rule), which oneDNN's workspace does not promise. Images of a batch are
// independent, so threads split the batch and results do not depend on the
// thread count.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/backends/cpu/kernels/kernels.h"
#include "engine/backends/cpu/kernels/threads.h"

namespace fornax::cpu {
namespace {

struct PoolGeometry {
  int64_t n, h, w, c;  // input
  int64_t oh, ow;      // output
  int64_t kh, kw, sh, sw;
  int64_t pad_top, pad_left;
};

PoolGeometry MakeGeometry(const Node& node, const Shape& x, const Shape& y) {
  PoolGeometry g;
  g.n = x.dim(0);
  g.h = x.dim(1);
  g.w = x.dim(2);
  g.c = x.dim(3);
  g.oh = y.dim(1);
  g.ow = y.dim(2);
  g.kh = node.attrs.window[0];
  g.kw = node.attrs.window[1];
  g.sh = node.attrs.strides[0];
  g.sw = node.attrs.strides[1];
  g.pad_top = g.pad_left = 0;
  if (node.attrs.padding == Padding::kSame) {  // TF/Keras: the extra pad goes after
    g.pad_top = std::max<int64_t>((g.oh - 1) * g.sh + g.kh - g.h, 0) / 2;
    g.pad_left = std::max<int64_t>((g.ow - 1) * g.sw + g.kw - g.w, 0) / 2;
  }
  return g;
}

// Calls f(cell_index) for each in-bounds input cell of output (oy, ox), in
// row-major window order.
template <typename F>
inline void ForWindow(const PoolGeometry& g, int64_t oy, int64_t ox, F f) {
  const int64_t y0 = oy * g.sh - g.pad_top;
  const int64_t x0 = ox * g.sw - g.pad_left;
  for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y0 + g.kh, g.h); ++y) {
    for (int64_t x = std::max<int64_t>(x0, 0); x < std::min(x0 + g.kw, g.w); ++x) {
      f(y * g.w + x);
    }
  }
}

int64_t WindowCount(const PoolGeometry& g, int64_t oy, int64_t ox) {
  int64_t count = 0;
  ForWindow(g, oy, ox, [&](int64_t) { ++count; });
  return count;
}

bool Parallel(const PoolGeometry& g) { return g.n > 1 && g.n * g.h * g.w * g.c >= (1 << 15); }

// The forward loop: window(out, xb, oy, ox) fills the g.c channels at `out`
// of output (oy, ox) from image `xb`, for each image of the batch.
template <typename F>
void ForEachOutput(const PoolGeometry& g, const float* x, float* y, F window) {
  ParallelFor(g.n, Parallel(g), [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const float* xb = x + b * g.h * g.w * g.c;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          window(y + ((b * g.oh + oy) * g.ow + ox) * g.c, xb, oy, ox);
        }
      }
    }
  });
}

// The in-bounds input rows [y0, y1) and columns [x0, x1) of output (oy, ox).
struct Span {
  int64_t y0, y1, x0, x1;
};

inline Span WindowSpan(const PoolGeometry& g, int64_t oy, int64_t ox) {
  const int64_t ys = oy * g.sh - g.pad_top;
  const int64_t xs = ox * g.sw - g.pad_left;
  return Span{std::max<int64_t>(ys, 0), std::min(ys + g.kh, g.h), std::max<int64_t>(xs, 0),
              std::min(xs + g.kw, g.w)};
}

// Channel counts that are a multiple of 8 (32, 64, ...) take the AVX2 paths
// below: GCC's auto-vectorized loops pay alias checks and remainders on
// every 32-channel window, which made pooling memory-latency bound.
bool ChannelsVectorize(const PoolGeometry& g) { return g.c % 8 == 0; }

void MaxPoolForwardAvx(const PoolGeometry& g, const float* x, float* y) {
  ForEachOutput(g, x, y, [&](float* out, const float* xb, int64_t oy, int64_t ox) {
    const Span s = WindowSpan(g, oy, ox);
    for (int64_t c = 0; c < g.c; c += 8) {
      __m256 acc = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
      for (int64_t iy = s.y0; iy < s.y1; ++iy) {
        for (int64_t ix = s.x0; ix < s.x1; ++ix) {
          // max_ps(a, b) is a > b ? a : b, the scalar loop's rule.
          acc = _mm256_max_ps(_mm256_loadu_ps(xb + (iy * g.w + ix) * g.c + c), acc);
        }
      }
      _mm256_storeu_ps(out + c, acc);
    }
  });
}

}  // namespace

void MaxPool2DKernel(const KernelContext& ctx) {
  const PoolGeometry g = MakeGeometry(ctx.node, ctx.inputs[0].shape(), ctx.output.shape());
  const float* x = ctx.inputs[0].data<float>();
  float* y = ctx.output.data<float>();
  if (ChannelsVectorize(g)) {
    MaxPoolForwardAvx(g, x, y);
    return;
  }
  ForEachOutput(g, x, y, [&](float* out, const float* xb, int64_t oy, int64_t ox) {
    std::fill(out, out + g.c, -std::numeric_limits<float>::infinity());
    ForWindow(g, oy, ox, [&](int64_t cell) {
      const float* in = xb + cell * g.c;
      for (int64_t c = 0; c < g.c; ++c) out[c] = in[c] > out[c] ? in[c] : out[c];
    });
  });
}

namespace {

// Non-overlapping windows (window == strides, the usual 2x2/2): each input
// cell belongs to at most one window, so dx is written exactly once per cell
// (no zero-fill pass, no scatter) and the loops vectorize over channels.
// Zeroes the cells of image `dxb` past the last window (valid padding).
void ZeroUncovered(const PoolGeometry& g, float* dxb) {
  const int64_t row_end = std::min(g.h, g.oh * g.sh - g.pad_top);
  const int64_t col_end = std::min(g.w, g.ow * g.sw - g.pad_left);
  for (int64_t y = 0; y < g.h; ++y) {
    const int64_t from = y < row_end ? col_end : 0;
    std::fill(dxb + (y * g.w + from) * g.c, dxb + (y + 1) * g.w * g.c, 0.0f);
  }
}

void MaxPoolGradTiledAvx(const PoolGeometry& g, const float* x, const float* dy, float* dx) {
  ParallelFor(g.n, Parallel(g), [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const float* xb = x + b * g.h * g.w * g.c;
      float* dxb = dx + b * g.h * g.w * g.c;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const Span s = WindowSpan(g, oy, ox);
          const float* g_out = dy + ((b * g.oh + oy) * g.ow + ox) * g.c;
          for (int64_t c = 0; c < g.c; c += 8) {
            __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
            for (int64_t iy = s.y0; iy < s.y1; ++iy) {
              for (int64_t ix = s.x0; ix < s.x1; ++ix) {
                best = _mm256_max_ps(_mm256_loadu_ps(xb + (iy * g.w + ix) * g.c + c), best);
              }
            }
            const __m256 grad = _mm256_loadu_ps(g_out + c);
            __m256 taken = _mm256_setzero_ps();
            for (int64_t iy = s.y0; iy < s.y1; ++iy) {
              for (int64_t ix = s.x0; ix < s.x1; ++ix) {
                const int64_t at = (iy * g.w + ix) * g.c + c;
                const __m256 eq = _mm256_cmp_ps(_mm256_loadu_ps(xb + at), best, _CMP_EQ_OQ);
                const __m256 hit = _mm256_andnot_ps(taken, eq);  // first max only
                _mm256_storeu_ps(dxb + at, _mm256_and_ps(hit, grad));
                taken = _mm256_or_ps(taken, hit);
              }
            }
          }
        }
      }
      ZeroUncovered(g, dxb);
    }
  });
}

void MaxPoolGradTiled(const PoolGeometry& g, const float* x, const float* dy, float* dx) {
  ParallelFor(g.n, Parallel(g), [&](int64_t first, int64_t last) {
    std::vector<float> best(static_cast<size_t>(g.c)), taken(static_cast<size_t>(g.c));
    for (int64_t b = first; b < last; ++b) {
      const float* xb = x + b * g.h * g.w * g.c;
      float* dxb = dx + b * g.h * g.w * g.c;
      float* pbest = best.data();
      float* ptaken = taken.data();
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
          std::fill(taken.begin(), taken.end(), 0.0f);
          ForWindow(g, oy, ox, [&](int64_t cell) {
            const float* in = xb + cell * g.c;
            for (int64_t c = 0; c < g.c; ++c) pbest[c] = in[c] > pbest[c] ? in[c] : pbest[c];
          });
          const float* g_out = dy + ((b * g.oh + oy) * g.ow + ox) * g.c;
          ForWindow(g, oy, ox, [&](int64_t cell) {
            const float* in = xb + cell * g.c;
            float* out = dxb + cell * g.c;
            for (int64_t c = 0; c < g.c; ++c) {
              const bool hit = ptaken[c] == 0.0f && in[c] == pbest[c];
              out[c] = hit ? g_out[c] : 0.0f;
              ptaken[c] = hit ? 1.0f : ptaken[c];
            }
          });
        }
      }
      ZeroUncovered(g, dxb);
    }
  });
}

}  // namespace

void MaxPool2DGradKernel(const KernelContext& ctx) {
  const PoolGeometry g = MakeGeometry(ctx.node, ctx.inputs[0].shape(), ctx.inputs[1].shape());
  const float* x = ctx.inputs[0].data<float>();
  const float* dy = ctx.inputs[1].data<float>();
  float* dx = ctx.output.data<float>();
  if (g.kh == g.sh && g.kw == g.sw) {
    if (ChannelsVectorize(g)) {
      MaxPoolGradTiledAvx(g, x, dy, dx);
    } else {
      MaxPoolGradTiled(g, x, dy, dx);
    }
    return;
  }
  std::fill(dx, dx + ctx.output.num_elements(), 0.0f);
  ParallelFor(g.n, Parallel(g), [&](int64_t first, int64_t last) {
    std::vector<float> best(static_cast<size_t>(g.c));
    std::vector<int32_t> where(static_cast<size_t>(g.c));
    for (int64_t b = first; b < last; ++b) {
      const float* xb = x + b * g.h * g.w * g.c;
      float* dxb = dx + b * g.h * g.w * g.c;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
          std::fill(where.begin(), where.end(), -1);
          ForWindow(g, oy, ox, [&](int64_t cell) {
            const float* in = xb + cell * g.c;
            const int32_t cell32 = static_cast<int32_t>(cell);
            for (int64_t c = 0; c < g.c; ++c) {
              const bool better =
                  in[c] > best[static_cast<size_t>(c)] || where[static_cast<size_t>(c)] < 0;
              best[static_cast<size_t>(c)] = better ? in[c] : best[static_cast<size_t>(c)];
              where[static_cast<size_t>(c)] = better ? cell32 : where[static_cast<size_t>(c)];
            }
          });
          const float* g_out = dy + ((b * g.oh + oy) * g.ow + ox) * g.c;
          for (int64_t c = 0; c < g.c; ++c) {
            const int32_t cell = where[static_cast<size_t>(c)];
            if (cell >= 0) dxb[cell * g.c + c] += g_out[c];
          }
        }
      }
    }
  });
}

void AvgPool2DKernel(const KernelContext& ctx) {
  const PoolGeometry g = MakeGeometry(ctx.node, ctx.inputs[0].shape(), ctx.output.shape());
  const float* x = ctx.inputs[0].data<float>();
  float* y = ctx.output.data<float>();
  ForEachOutput(g, x, y, [&](float* out, const float* xb, int64_t oy, int64_t ox) {
    std::fill(out, out + g.c, 0.0f);
    ForWindow(g, oy, ox, [&](int64_t cell) {
      const float* in = xb + cell * g.c;
      for (int64_t c = 0; c < g.c; ++c) out[c] += in[c];
    });
    const float inv = 1.0f / static_cast<float>(std::max<int64_t>(WindowCount(g, oy, ox), 1));
    for (int64_t c = 0; c < g.c; ++c) out[c] *= inv;
  });
}

void AvgPool2DGradKernel(const KernelContext& ctx) {
  const PoolGeometry g = MakeGeometry(ctx.node, ctx.output.shape(), ctx.inputs[0].shape());
  const float* dy = ctx.inputs[0].data<float>();
  float* dx = ctx.output.data<float>();
  std::fill(dx, dx + ctx.output.num_elements(), 0.0f);
  ParallelFor(g.n, Parallel(g), [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      float* dxb = dx + b * g.h * g.w * g.c;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          const float* g_out = dy + ((b * g.oh + oy) * g.ow + ox) * g.c;
          const float inv = 1.0f / static_cast<float>(std::max<int64_t>(WindowCount(g, oy, ox), 1));
          ForWindow(g, oy, ox, [&](int64_t cell) {
            float* out = dxb + cell * g.c;
            for (int64_t c = 0; c < g.c; ++c) out[c] += g_out[c] * inv;
          });
        }
      }
    }
  });
}

}  // namespace fornax::cpu
