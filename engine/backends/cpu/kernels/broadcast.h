// Broadcast iteration for the CPU elementwise kernels.
//
// BroadcastPlan collapses an output shape and its (NumPy-broadcast) input
// shapes into the fewest dims with per-input strides, 0 where an input is
// broadcast. The innermost dim is then walked with unit or zero stride, which
// is what the vectorized loops want: a bias row (N,) against (B, N) becomes
// dims {B, N} with strides {0, 1}; same-shape inputs become one flat dim.
#ifndef FORNAX_ENGINE_BACKENDS_CPU_KERNELS_BROADCAST_H_
#define FORNAX_ENGINE_BACKENDS_CPU_KERNELS_BROADCAST_H_

#include <cstdint>
#include <span>
#include <vector>

#include "engine/tensor/shape.h"

namespace fornax::cpu {

struct BroadcastPlan {
  std::vector<int64_t> dims;                  // collapsed output dims, rank >= 1
  std::vector<std::vector<int64_t>> strides;  // [input][dim], in elements

  int64_t inner() const { return dims.back(); }
  int64_t outer() const;  // product of all dims but the last
  // Element offset of each input at the start of outer row `row`.
  void RowOffsets(int64_t row, std::span<int64_t> offsets) const;
};

// REQUIRES: every input shape broadcasts to `out` (checked by the IR).
BroadcastPlan MakeBroadcastPlan(const Shape& out, std::span<const Shape* const> inputs);

}  // namespace fornax::cpu

#endif  // FORNAX_ENGINE_BACKENDS_CPU_KERNELS_BROADCAST_H_
