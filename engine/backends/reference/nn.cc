// Reference kernels for MatMul, Conv2D and its two gradients, and pooling.
// Images are NHWC, filters HWIO. 'same' padding follows TF/Keras (see
// PadBefore); pooling ignores padded cells (max over valid cells, average
// divided by the count of valid cells). Accumulation is in double.
#include <limits>
#include <vector>

#include "engine/backends/reference/kernel_table.h"
#include "engine/backends/reference/kernel_util.h"

namespace fornax::reference {

void MatMulKernel(const KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  const bool ta = ctx.node.attrs.transpose_a;
  const bool tb = ctx.node.attrs.transpose_b;
  const int64_t m = ctx.output.shape().dim(0);
  const int64_t n = ctx.output.shape().dim(1);
  const int64_t k = ta ? a.shape().dim(0) : a.shape().dim(1);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const float av = LoadFloat(a, ta ? p * m + i : i * k + p);
        const float bv = LoadFloat(b, tb ? j * k + p : p * n + j);
        sum += static_cast<double>(av) * bv;
      }
      StoreFloat(ctx.output, i * n + j, static_cast<float>(sum));
    }
  }
}

namespace {

// Sizes of one convolution or pooling: input (n, ih, iw, c), window (kh, kw),
// output (n, oh, ow, ·).
struct Window {
  int64_t n, ih, iw, c, kh, kw, oh, ow, sh, sw, dh, dw, ph, pw;
};

Window MakeWindow(const Node& node, const Shape& x, int64_t kh, int64_t kw, const Shape& y) {
  const Attrs& a = node.attrs;
  Window g{x.dim(0),     x.dim(1),     x.dim(2),      x.dim(3),      kh, kw, y.dim(1), y.dim(2),
           a.strides[0], a.strides[1], a.dilation[0], a.dilation[1], 0,  0};
  g.ph = PadBefore(a.padding, g.ih, g.oh, kh, g.sh, g.dh);
  g.pw = PadBefore(a.padding, g.iw, g.ow, kw, g.sw, g.dw);
  return g;
}

// Calls f(n, oh, ow, kh, kw, ih, iw) for every window tap inside the input.
template <typename F>
void ForEachTap(const Window& g, F&& f) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow)
        for (int64_t kh = 0; kh < g.kh; ++kh) {
          const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
          if (ih < 0 || ih >= g.ih) continue;
          for (int64_t kw = 0; kw < g.kw; ++kw) {
            const int64_t iw = ow * g.sw + kw * g.dw - g.pw;
            if (iw < 0 || iw >= g.iw) continue;
            f(n, oh, ow, kh, kw, ih, iw);
          }
        }
}

void StoreAll(Tensor& t, const std::vector<double>& values) {
  for (size_t i = 0; i < values.size(); ++i)
    StoreFloat(t, static_cast<int64_t>(i), static_cast<float>(values[i]));
}

}  // namespace

// x (N,H,W,C), w (KH,KW,C,O) -> y (N,OH,OW,O).
void Conv2DKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Tensor& w = ctx.inputs[1];
  const Shape& ws = w.shape();
  const Window g = MakeWindow(ctx.node, x.shape(), ws.dim(0), ws.dim(1), ctx.output.shape());
  const int64_t oc = ws.dim(3);
  std::vector<double> y(static_cast<size_t>(ctx.output.num_elements()), 0.0);
  ForEachTap(
      g, [&](int64_t n, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < g.c; ++c) {
          const double xv = LoadFloat(x, ((n * g.ih + ih) * g.iw + iw) * g.c + c);
          for (int64_t o = 0; o < oc; ++o) {
            y[static_cast<size_t>(((n * g.oh + oh) * g.ow + ow) * oc + o)] +=
                xv * LoadFloat(w, ((kh * g.kw + kw) * g.c + c) * oc + o);
          }
        }
      });
  StoreAll(ctx.output, y);
}

namespace {

// (dy (N,OH,OW,O), w (KH,KW,C,O)) -> dx (N,H,W,C).
void Conv2DBackpropInputKernel(const KernelContext& ctx) {
  const Tensor& dy = ctx.inputs[0];
  const Tensor& w = ctx.inputs[1];
  const Shape& ws = w.shape();
  const Window g = MakeWindow(ctx.node, ctx.output.shape(), ws.dim(0), ws.dim(1), dy.shape());
  const int64_t oc = ws.dim(3);
  std::vector<double> dx(static_cast<size_t>(ctx.output.num_elements()), 0.0);
  ForEachTap(
      g, [&](int64_t n, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < g.c; ++c) {
          double sum = 0;
          for (int64_t o = 0; o < oc; ++o) {
            sum += static_cast<double>(LoadFloat(dy, ((n * g.oh + oh) * g.ow + ow) * oc + o)) *
                   LoadFloat(w, ((kh * g.kw + kw) * g.c + c) * oc + o);
          }
          dx[static_cast<size_t>(((n * g.ih + ih) * g.iw + iw) * g.c + c)] += sum;
        }
      });
  StoreAll(ctx.output, dx);
}

// (x (N,H,W,C), dy (N,OH,OW,O)) -> dw (KH,KW,C,O).
void Conv2DBackpropFilterKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Tensor& dy = ctx.inputs[1];
  const Shape& ws = ctx.output.shape();
  const Window g = MakeWindow(ctx.node, x.shape(), ws.dim(0), ws.dim(1), dy.shape());
  const int64_t oc = ws.dim(3);
  std::vector<double> dw(static_cast<size_t>(ctx.output.num_elements()), 0.0);
  ForEachTap(
      g, [&](int64_t n, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih, int64_t iw) {
        for (int64_t c = 0; c < g.c; ++c) {
          const double xv = LoadFloat(x, ((n * g.ih + ih) * g.iw + iw) * g.c + c);
          for (int64_t o = 0; o < oc; ++o) {
            dw[static_cast<size_t>(((kh * g.kw + kw) * g.c + c) * oc + o)] +=
                xv * LoadFloat(dy, ((n * g.oh + oh) * g.ow + ow) * oc + o);
          }
        }
      });
  StoreAll(ctx.output, dw);
}

Window PoolWindow(const KernelContext& ctx, const Shape& x, const Shape& y) {
  return MakeWindow(ctx.node, x, ctx.node.attrs.window[0], ctx.node.attrs.window[1], y);
}

int64_t At(const Window& g, int64_t n, int64_t h, int64_t w, int64_t c, bool output) {
  return output ? ((n * g.oh + h) * g.ow + w) * g.c + c : ((n * g.ih + h) * g.iw + w) * g.c + c;
}

// For every output cell and channel: the input offset of the first maximum
// in scan order (row-major over the window), ignoring padding.
std::vector<int64_t> ArgMaxCells(const Window& g, const Tensor& x) {
  const size_t out_n = static_cast<size_t>(g.n * g.oh * g.ow * g.c);
  std::vector<int64_t> best(out_n, -1);
  std::vector<float> best_value(out_n, -std::numeric_limits<float>::infinity());
  ForEachTap(g, [&](int64_t n, int64_t oh, int64_t ow, int64_t, int64_t, int64_t ih, int64_t iw) {
    for (int64_t c = 0; c < g.c; ++c) {
      const size_t o = static_cast<size_t>(At(g, n, oh, ow, c, true));
      const int64_t i = At(g, n, ih, iw, c, false);
      const float v = LoadFloat(x, i);
      if (best[o] < 0 || v > best_value[o]) {
        best[o] = i;
        best_value[o] = v;
      }
    }
  });
  return best;
}

void MaxPool2DKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Window g = PoolWindow(ctx, x.shape(), ctx.output.shape());
  const std::vector<int64_t> best = ArgMaxCells(g, x);
  for (size_t o = 0; o < best.size(); ++o) {
    StoreFloat(ctx.output, static_cast<int64_t>(o), best[o] < 0 ? 0.0f : LoadFloat(x, best[o]));
  }
}

// (x, dy) -> dx: each dy goes to the first maximum of its window.
void MaxPool2DGradKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Tensor& dy = ctx.inputs[1];
  const Window g = PoolWindow(ctx, x.shape(), dy.shape());
  const std::vector<int64_t> best = ArgMaxCells(g, x);
  std::vector<double> dx(static_cast<size_t>(ctx.output.num_elements()), 0.0);
  for (size_t o = 0; o < best.size(); ++o) {
    if (best[o] >= 0) dx[static_cast<size_t>(best[o])] += LoadFloat(dy, static_cast<int64_t>(o));
  }
  StoreAll(ctx.output, dx);
}

// Valid input cells in each output window.
std::vector<int64_t> WindowCounts(const Window& g) {
  std::vector<int64_t> counts(static_cast<size_t>(g.oh * g.ow), 0);
  Window one = g;
  one.n = 1;
  ForEachTap(one, [&](int64_t, int64_t oh, int64_t ow, int64_t, int64_t, int64_t, int64_t) {
    ++counts[static_cast<size_t>(oh * g.ow + ow)];
  });
  return counts;
}

void AvgPool2DKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Window g = PoolWindow(ctx, x.shape(), ctx.output.shape());
  const std::vector<int64_t> counts = WindowCounts(g);
  std::vector<double> y(static_cast<size_t>(ctx.output.num_elements()), 0.0);
  ForEachTap(g, [&](int64_t n, int64_t oh, int64_t ow, int64_t, int64_t, int64_t ih, int64_t iw) {
    const double scale = 1.0 / static_cast<double>(counts[static_cast<size_t>(oh * g.ow + ow)]);
    for (int64_t c = 0; c < g.c; ++c) {
      y[static_cast<size_t>(At(g, n, oh, ow, c, true))] +=
          LoadFloat(x, At(g, n, ih, iw, c, false)) * scale;
    }
  });
  StoreAll(ctx.output, y);
}

// dy -> dx of attrs.shape: each dy spread evenly over its window's valid cells.
void AvgPool2DGradKernel(const KernelContext& ctx) {
  const Tensor& dy = ctx.inputs[0];
  const Window g = PoolWindow(ctx, ctx.output.shape(), dy.shape());
  const std::vector<int64_t> counts = WindowCounts(g);
  std::vector<double> dx(static_cast<size_t>(ctx.output.num_elements()), 0.0);
  ForEachTap(g, [&](int64_t n, int64_t oh, int64_t ow, int64_t, int64_t, int64_t ih, int64_t iw) {
    const double scale = 1.0 / static_cast<double>(counts[static_cast<size_t>(oh * g.ow + ow)]);
    for (int64_t c = 0; c < g.c; ++c) {
      dx[static_cast<size_t>(At(g, n, ih, iw, c, false))] +=
          LoadFloat(dy, At(g, n, oh, ow, c, true)) * scale;
    }
  });
  StoreAll(ctx.output, dx);
}

}  // namespace

void RegisterNnKernels(KernelTable& t) {
  Register(t, Op::kMatMul, MatMulKernel);
  Register(t, Op::kConv2D, Conv2DKernel);
  Register(t, Op::kConv2DBackpropInput, Conv2DBackpropInputKernel);
  Register(t, Op::kConv2DBackpropFilter, Conv2DBackpropFilterKernel);
  Register(t, Op::kMaxPool2D, MaxPool2DKernel);
  Register(t, Op::kMaxPool2DGrad, MaxPool2DGradKernel);
  Register(t, Op::kAvgPool2D, AvgPool2DKernel);
  Register(t, Op::kAvgPool2DGrad, AvgPool2DGradKernel);
}

}  // namespace fornax::reference
