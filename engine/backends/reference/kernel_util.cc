#include "engine/backends/reference/kernel_util.h"

#include <algorithm>

namespace fornax::reference {

std::vector<int64_t> BroadcastStrides(const Shape& out, const Shape& in) {
  std::vector<int64_t> strides(static_cast<size_t>(out.rank()), 0);
  const std::vector<int64_t> in_strides = RowMajorStrides(in);
  const int shift = out.rank() - in.rank();
  for (int d = 0; d < in.rank(); ++d) {
    if (in.dim(d) != 1)
      strides[static_cast<size_t>(d + shift)] = in_strides[static_cast<size_t>(d)];
  }
  return strides;
}

int64_t PadBefore(Padding padding, int64_t in, int64_t out, int64_t k, int64_t stride,
                  int64_t dilation) {
  if (padding == Padding::kValid) return 0;
  const int64_t total = std::max<int64_t>((out - 1) * stride + (k - 1) * dilation + 1 - in, 0);
  return total / 2;
}

}  // namespace fornax::reference
