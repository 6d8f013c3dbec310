// Reference kernels for ReduceSum, ReduceMean, ReduceMax and ArgMax.
// Reductions accumulate in double over any numeric dtype; ReduceMean divides
// by the runtime number of reduced elements.
#include <cmath>
#include <limits>
#include <vector>

#include "engine/backends/reference/kernel_table.h"
#include "engine/backends/reference/kernel_util.h"

namespace fornax::reference {
namespace {

enum class Reduction { kSum, kMean, kMax };

// Output flat offset for each input element: the input index with the
// reduced dims dropped (or set to 0 with keepdims; the same offsets).
std::vector<int64_t> ReducedStrides(const Shape& in, const std::vector<int64_t>& axes) {
  std::vector<bool> reduced(static_cast<size_t>(in.rank()), false);
  for (int64_t a : axes) reduced[static_cast<size_t>(NormalizeAxis(a, in.rank()))] = true;
  std::vector<int64_t> strides(static_cast<size_t>(in.rank()), 0);
  int64_t stride = 1;
  for (int d = in.rank() - 1; d >= 0; --d) {
    if (reduced[static_cast<size_t>(d)]) continue;
    strides[static_cast<size_t>(d)] = stride;
    stride *= in.dim(d);
  }
  return strides;
}

double Load(const Tensor& t, int64_t i) {
  return IsFloating(t.dtype()) ? static_cast<double>(LoadFloat(t, i))
                               : static_cast<double>(LoadInt(t, i));
}

template <Reduction kind>
void ReduceKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  Tensor& y = ctx.output;
  const int64_t out_n = y.num_elements();
  const double init = kind == Reduction::kMax ? -std::numeric_limits<double>::infinity() : 0.0;
  std::vector<double> acc(static_cast<size_t>(out_n), init);
  const std::vector<int64_t> strides = ReducedStrides(x.shape(), ctx.node.attrs.axes);
  const int rank = x.shape().rank();
  std::vector<int64_t> counter(static_cast<size_t>(rank), 0);
  int64_t out_offset = 0;
  const int64_t n = x.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    const double v = Load(x, i);
    double& a = acc[static_cast<size_t>(out_offset)];
    if constexpr (kind == Reduction::kMax) {
      if (v > a || std::isnan(v)) a = v;
    } else {
      a += v;
    }
    for (int d = rank - 1; d >= 0; --d) {
      const size_t ud = static_cast<size_t>(d);
      ++counter[ud];
      out_offset += strides[ud];
      if (counter[ud] < x.shape().dim(d)) break;
      out_offset -= strides[ud] * counter[ud];
      counter[ud] = 0;
    }
  }
  const double count = out_n == 0 ? 0.0 : static_cast<double>(n) / static_cast<double>(out_n);
  for (int64_t i = 0; i < out_n; ++i) {
    double v = acc[static_cast<size_t>(i)];
    if constexpr (kind == Reduction::kMean) v /= count;
    y.SetFromDouble(i, v);
  }
}

void ArgMaxKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const int axis = NormalizeAxis(ctx.node.attrs.axis, x.shape().rank());
  int64_t outer = 1;
  int64_t inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.shape().dim(d);
  for (int d = axis + 1; d < x.shape().rank(); ++d) inner *= x.shape().dim(d);
  const int64_t len = x.shape().dim(axis);
  int32_t* out = ctx.output.data<int32_t>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      int64_t best = 0;
      double best_value = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < len; ++k) {
        const double v = Load(x, (o * len + k) * inner + in);
        if (k == 0 || v > best_value || (std::isnan(v) && !std::isnan(best_value))) {
          best = k;
          best_value = v;
        }
      }
      out[o * inner + in] = static_cast<int32_t>(best);
    }
  }
}

}  // namespace

void RegisterReductionKernels(KernelTable& t) {
  Register(t, Op::kReduceSum, ReduceKernel<Reduction::kSum>);
  Register(t, Op::kReduceMean, ReduceKernel<Reduction::kMean>);
  Register(t, Op::kReduceMax, ReduceKernel<Reduction::kMax>);
  Register(t, Op::kArgMax, ArgMaxKernel);
}

}  // namespace fornax::reference
