// Helpers shared by the reference kernels: NumPy broadcasting walks, the
// conv/pool padding rule, and float access to any floating dtype.
// Internal to engine/backends/reference. Thread-safety: pure functions.
#ifndef FORNAX_ENGINE_BACKENDS_REFERENCE_KERNEL_UTIL_H_
#define FORNAX_ENGINE_BACKENDS_REFERENCE_KERNEL_UTIL_H_

#include <array>
#include <cstdint>
#include <vector>

#include "engine/ir/graph.h"
#include "engine/tensor/dtype.h"
#include "engine/tensor/shape.h"
#include "engine/tensor/tensor.h"

namespace fornax::reference {

// Element strides of `in` laid against the dims of `out` under NumPy
// broadcasting (right-aligned; 0 where `in` has size 1 or no such dim).
std::vector<int64_t> BroadcastStrides(const Shape& out, const Shape& in);

// Calls f(out_index, in_offsets) for every element of `out` in row-major
// order, where in_offsets[k] is the flat element offset in input k.
template <size_t N, typename F>
void ForEachBroadcast(const Shape& out, const std::array<const Shape*, N>& ins, F&& f) {
  const int rank = out.rank();
  const int64_t total = out.NumElements();
  if (total == 0) return;
  std::array<std::vector<int64_t>, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = BroadcastStrides(out, *ins[k]);
  std::vector<int64_t> counter(static_cast<size_t>(rank), 0);
  std::array<int64_t, N> offsets{};
  for (int64_t i = 0; i < total; ++i) {
    f(i, offsets);
    // Odometer step: bump the last dim, carrying into earlier ones.
    for (int d = rank - 1; d >= 0; --d) {
      const size_t ud = static_cast<size_t>(d);
      ++counter[ud];
      for (size_t k = 0; k < N; ++k) offsets[k] += strides[k][ud];
      if (counter[ud] < out.dim(d)) break;
      for (size_t k = 0; k < N; ++k) offsets[k] -= strides[k][ud] * counter[ud];
      counter[ud] = 0;
    }
  }
}

// Padding before the first row/column for conv and pooling, TF/Keras rule:
// 'same' pads total = max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0)
// and puts total / 2 before; 'valid' pads nothing.
int64_t PadBefore(Padding padding, int64_t in, int64_t out, int64_t k, int64_t stride,
                  int64_t dilation);

// Float view of element i of a float32/float16/bfloat16 tensor.
inline float LoadFloat(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat16:
      return HalfToFloat(t.data<uint16_t>()[i]);
    case DType::kBFloat16:
      return BFloat16ToFloat(t.data<uint16_t>()[i]);
    default:
      return t.data<float>()[i];
  }
}

inline void StoreFloat(Tensor& t, int64_t i, float v) {
  switch (t.dtype()) {
    case DType::kFloat16:
      t.data<uint16_t>()[i] = FloatToHalf(v);
      break;
    case DType::kBFloat16:
      t.data<uint16_t>()[i] = FloatToBFloat16(v);
      break;
    default:
      t.data<float>()[i] = v;
  }
}

// Integer view of element i of an int32/int64/uint8/bool tensor.
inline int64_t LoadInt(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kInt32:
      return t.data<int32_t>()[i];
    case DType::kInt64:
      return t.data<int64_t>()[i];
    default:
      return t.data<uint8_t>()[i];
  }
}

// Normalizes a possibly negative axis against `rank`.
inline int NormalizeAxis(int64_t axis, int rank) {
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace fornax::reference

#endif  // FORNAX_ENGINE_BACKENDS_REFERENCE_KERNEL_UTIL_H_
