// Reference kernels that move data: Reshape, Transpose, BroadcastTo, Concat,
// Slice, Gather, ScatterAddRows, OneHot. Data movement is dtype-agnostic
// (bytes); ScatterAddRows adds floats. Out-of-range indices never fault:
// Gather writes zeros for them, ScatterAddRows skips them, OneHot writes an
// all-zero row (TensorFlow's semantics).
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/backends/reference/kernel_table.h"
#include "engine/backends/reference/kernel_util.h"

namespace fornax::reference {
namespace {

void ReshapeKernel(const KernelContext& ctx) {
  if (ctx.output.raw_data() == ctx.inputs[0].raw_data()) return;  // planned as an alias
  std::memmove(ctx.output.raw_data(), ctx.inputs[0].raw_data(), ctx.output.byte_size());
}

void TransposeKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  Tensor& y = ctx.output;
  const std::vector<int64_t>& perm = ctx.node.attrs.axes;
  const std::vector<int64_t> in_strides = RowMajorStrides(x.shape());
  // Output dim d walks input dim perm[d].
  std::vector<int64_t> permuted_strides;
  for (int64_t p : perm) permuted_strides.push_back(in_strides[static_cast<size_t>(p)]);
  const size_t width = DTypeSize(x.dtype());
  const char* in = static_cast<const char*>(x.raw_data());
  char* out = static_cast<char*>(y.raw_data());
  const int rank = y.shape().rank();
  std::vector<int64_t> counter(static_cast<size_t>(rank), 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    std::memcpy(out + static_cast<size_t>(i) * width, in + static_cast<size_t>(offset) * width,
                width);
    for (int d = rank - 1; d >= 0; --d) {
      const size_t ud = static_cast<size_t>(d);
      ++counter[ud];
      offset += permuted_strides[ud];
      if (counter[ud] < y.shape().dim(d)) break;
      offset -= permuted_strides[ud] * counter[ud];
      counter[ud] = 0;
    }
  }
}

void BroadcastToKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const size_t width = DTypeSize(x.dtype());
  const char* in = static_cast<const char*>(x.raw_data());
  char* out = static_cast<char*>(ctx.output.raw_data());
  ForEachBroadcast<1>(ctx.output.shape(), {&x.shape()},
                      [&](int64_t i, const std::array<int64_t, 1>& off) {
                        std::memcpy(out + static_cast<size_t>(i) * width,
                                    in + static_cast<size_t>(off[0]) * width, width);
                      });
}

// Rows of `outer` blocks: a tensor split at `axis` is outer x (dim * inner).
int64_t OuterSize(const Shape& s, int axis) {
  int64_t n = 1;
  for (int d = 0; d < axis; ++d) n *= s.dim(d);
  return n;
}

void ConcatKernel(const KernelContext& ctx) {
  Tensor& y = ctx.output;
  const int axis = NormalizeAxis(ctx.node.attrs.axis, y.shape().rank());
  const int64_t outer = OuterSize(y.shape(), axis);
  const size_t out_row = y.byte_size() / static_cast<size_t>(outer == 0 ? 1 : outer);
  size_t column = 0;
  for (const Tensor& x : ctx.inputs) {
    const size_t in_row = x.byte_size() / static_cast<size_t>(outer == 0 ? 1 : outer);
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(static_cast<char*>(y.raw_data()) + static_cast<size_t>(o) * out_row + column,
                  static_cast<const char*>(x.raw_data()) + static_cast<size_t>(o) * in_row, in_row);
    }
    column += in_row;
  }
}

void SliceKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Attrs& a = ctx.node.attrs;
  const int axis = NormalizeAxis(a.axis, x.shape().rank());
  const int64_t outer = OuterSize(x.shape(), axis);
  const size_t inner = static_cast<size_t>(x.shape().NumElements() /
                                           std::max<int64_t>(outer * x.shape().dim(axis), 1)) *
                       DTypeSize(x.dtype());
  const size_t in_row = inner * static_cast<size_t>(x.shape().dim(axis));
  const size_t out_row = inner * static_cast<size_t>(a.end - a.begin);
  for (int64_t o = 0; o < outer; ++o) {
    std::memcpy(static_cast<char*>(ctx.output.raw_data()) + static_cast<size_t>(o) * out_row,
                static_cast<const char*>(x.raw_data()) + static_cast<size_t>(o) * in_row +
                    inner * static_cast<size_t>(a.begin),
                out_row);
  }
}

void GatherKernel(const KernelContext& ctx) {
  const Tensor& params = ctx.inputs[0];
  const Tensor& indices = ctx.inputs[1];
  const int64_t rows = params.shape().dim(0);
  const size_t row_bytes = params.byte_size() / static_cast<size_t>(rows == 0 ? 1 : rows);
  char* out = static_cast<char*>(ctx.output.raw_data());
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    const int64_t row = LoadInt(indices, i);
    char* dst = out + static_cast<size_t>(i) * row_bytes;
    if (row < 0 || row >= rows) {
      std::memset(dst, 0, row_bytes);
    } else {
      std::memcpy(
          dst, static_cast<const char*>(params.raw_data()) + static_cast<size_t>(row) * row_bytes,
          row_bytes);
    }
  }
}

void ScatterAddRowsKernel(const KernelContext& ctx) {
  const Tensor& updates = ctx.inputs[0];
  const Tensor& indices = ctx.inputs[1];
  Tensor& y = ctx.output;
  const int64_t rows = y.shape().dim(0);
  const int64_t row_size = rows == 0 ? 0 : y.num_elements() / rows;
  for (int64_t i = 0; i < y.num_elements(); ++i) StoreFloat(y, i, 0.0f);
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    const int64_t row = LoadInt(indices, i);
    if (row < 0 || row >= rows) continue;
    for (int64_t k = 0; k < row_size; ++k) {
      const int64_t dst = row * row_size + k;
      StoreFloat(y, dst, LoadFloat(y, dst) + LoadFloat(updates, i * row_size + k));
    }
  }
}

void OneHotKernel(const KernelContext& ctx) {
  const Tensor& indices = ctx.inputs[0];
  const int64_t depth = ctx.node.attrs.depth;
  Tensor& y = ctx.output;
  for (int64_t i = 0; i < y.num_elements(); ++i) StoreFloat(y, i, 0.0f);
  for (int64_t i = 0; i < indices.num_elements(); ++i) {
    const int64_t k = LoadInt(indices, i);
    if (k >= 0 && k < depth) StoreFloat(y, i * depth + k, 1.0f);
  }
}

}  // namespace

void RegisterShapeKernels(KernelTable& t) {
  Register(t, Op::kReshape, ReshapeKernel);
  Register(t, Op::kTranspose, TransposeKernel);
  Register(t, Op::kBroadcastTo, BroadcastToKernel);
  Register(t, Op::kConcat, ConcatKernel);
  Register(t, Op::kSlice, SliceKernel);
  Register(t, Op::kGather, GatherKernel);
  Register(t, Op::kScatterAddRows, ScatterAddRowsKernel);
  Register(t, Op::kOneHot, OneHotKernel);
}

}  // namespace fornax::reference
