#include "engine/runtime/philox.h"

#include <cstddef>

namespace fornax {

void FillUniform(uint64_t seed, uint64_t step, uint32_t stream, int64_t begin, int64_t end,
                 float* out) {
  const PhiloxKey key = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  PhiloxCounter counter = {static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32), stream,
                           0};
  int64_t i = begin;
  while (i < end) {
    counter[3] = static_cast<uint32_t>(i / 4);
    const PhiloxCounter block = Philox4x32(counter, key);
    // Elements i .. the end of this block of four.
    for (int64_t lane = i % 4; lane < 4 && i < end; ++lane, ++i) {
      out[i - begin] = UniformFloatFromBits(block[static_cast<std::size_t>(lane)]);
    }
  }
}

}  // namespace fornax
