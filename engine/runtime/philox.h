// Philox4x32-10, the counter-based random number generator of Salmon et al.,
// "Parallel Random Numbers: As Easy as 1, 2, 3" (SC'11), as in Random123.
//
// A counter-based RNG has no state: the value for (key, counter) is a pure
// function, so any thread can produce any element in any order and the
// results are bit-identical. Fornax keys RandomUniform as
//   key     = the run's seed (64 bits),
//   counter = (run step (64 bits), stream id = attrs.index (32), i / 4 (32)),
// and element i of the op's output is word i % 4 of that block, turned into a
// float in [0, 1) from its 24 high bits. This makes dropout masks depend only
// on (seed, step, op, element): not on threads, batching or
// steps_per_execution. Thread-safety: pure functions.
#ifndef FORNAX_ENGINE_RUNTIME_PHILOX_H_
#define FORNAX_ENGINE_RUNTIME_PHILOX_H_

#include <array>
#include <cstdint>

namespace fornax {

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// Ten rounds of Philox4x32 on `counter` under `key`.
inline PhiloxCounter Philox4x32(PhiloxCounter counter, PhiloxKey key) {
  constexpr uint32_t kMul0 = 0xD2511F53u;
  constexpr uint32_t kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u;
  constexpr uint32_t kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += kWeyl0;
      key[1] += kWeyl1;
    }
    uint64_t p0 = static_cast<uint64_t>(kMul0) * counter[0];
    uint64_t p1 = static_cast<uint64_t>(kMul1) * counter[2];
    counter = {static_cast<uint32_t>(p1 >> 32) ^ counter[1] ^ key[0], static_cast<uint32_t>(p1),
               static_cast<uint32_t>(p0 >> 32) ^ counter[3] ^ key[1], static_cast<uint32_t>(p0)};
  }
  return counter;
}

// A float in [0, 1) from the 24 high bits of `bits` (exact in float32).
inline float UniformFloatFromBits(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// Writes elements [begin, end) of RandomUniform stream `stream` for (seed,
// step) to out[0 .. end - begin). Splitting a tensor into any ranges gives the
// same values as one call over the whole tensor.
void FillUniform(uint64_t seed, uint64_t step, uint32_t stream, int64_t begin, int64_t end,
                 float* out);

}  // namespace fornax

#endif  // FORNAX_ENGINE_RUNTIME_PHILOX_H_
