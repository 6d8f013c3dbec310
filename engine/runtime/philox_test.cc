#include "engine/runtime/philox.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace fornax {
namespace {

// Known-answer vectors from Random123's kat_vectors (philox4x32, 10 rounds).
TEST(PhiloxTest, MatchesRandom123KnownAnswers) {
  EXPECT_EQ(Philox4x32({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(
      Philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
      (PhiloxCounter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  EXPECT_EQ(
      Philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}),
      (PhiloxCounter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(PhiloxTest, UniformUsesTheHigh24Bits) {
  EXPECT_EQ(UniformFloatFromBits(0), 0.0f);
  EXPECT_EQ(UniformFloatFromBits(0xffffffffu), 1.0f - std::ldexp(1.0f, -24));
  EXPECT_EQ(UniformFloatFromBits(0x80000000u), 0.5f);
  EXPECT_EQ(UniformFloatFromBits(0x000000ffu), 0.0f);
}

TEST(PhiloxTest, ElementIsWordIModFourOfBlockIDivFour) {
  const uint64_t seed = 0x0123456789abcdefull;
  const uint64_t step = 0x1122334455667788ull;
  std::vector<float> out(10);
  FillUniform(seed, step, 7, 0, 10, out.data());
  const PhiloxCounter block =
      Philox4x32({0x55667788u, 0x11223344u, 7u, 2u}, {0x89abcdefu, 0x01234567u});
  EXPECT_EQ(out[8], UniformFloatFromBits(block[0]));
  EXPECT_EQ(out[9], UniformFloatFromBits(block[1]));
}

TEST(PhiloxTest, AnySplitGivesTheSameValues) {
  std::vector<float> whole(37);
  FillUniform(1, 2, 3, 0, 37, whole.data());
  std::vector<float> pieces(37);
  FillUniform(1, 2, 3, 0, 5, pieces.data());
  FillUniform(1, 2, 3, 5, 6, pieces.data() + 5);
  FillUniform(1, 2, 3, 6, 37, pieces.data() + 6);
  EXPECT_EQ(whole, pieces);
}

TEST(PhiloxTest, SeedStepAndStreamEachChangeTheValues) {
  std::vector<float> base(8), other(8);
  FillUniform(1, 2, 3, 0, 8, base.data());
  FillUniform(2, 2, 3, 0, 8, other.data());
  EXPECT_NE(base, other);
  FillUniform(1, 3, 3, 0, 8, other.data());
  EXPECT_NE(base, other);
  FillUniform(1, 2, 4, 0, 8, other.data());
  EXPECT_NE(base, other);
}

TEST(PhiloxTest, UniformStatistics) {
  constexpr int kN = 1 << 16;
  std::vector<float> v(kN);
  FillUniform(42, 0, 0, 0, kN, v.data());
  double sum = 0, sum_sq = 0;
  int below_tenth = 0;
  for (float x : v) {
    ASSERT_GE(x, 0.0f);
    ASSERT_LT(x, 1.0f);
    sum += x;
    sum_sq += static_cast<double>(x) * x;
    below_tenth += x < 0.1f;
  }
  const double mean = sum / kN;
  // Standard error of the mean is ~0.0011; of the variance ~0.0003.
  EXPECT_NEAR(mean, 0.5, 0.006);
  EXPECT_NEAR(sum_sq / kN - mean * mean, 1.0 / 12.0, 0.002);
  EXPECT_NEAR(below_tenth / static_cast<double>(kN), 0.1, 0.006);
}

}  // namespace
}  // namespace fornax
