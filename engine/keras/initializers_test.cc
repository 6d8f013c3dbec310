// Initializers parse Keras's serialized forms and draw with Keras's
// distributions, deterministically from (seed, shape).
#include "engine/keras/initializers.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

Tensor Draw(const json& spec, const Shape& shape, uint64_t fallback_seed = 5) {
  absl::StatusOr<std::shared_ptr<const Initializer>> init = GetInitializer(spec, "test");
  EXPECT_TRUE(init.ok()) << init.status();
  absl::StatusOr<Tensor> t = (*init)->Create(shape, DType::kFloat32, fallback_seed);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

json Keras(const std::string& class_name, json config = json::object()) {
  return {{"module", "keras.initializers"},
          {"class_name", class_name},
          {"config", config},
          {"registered_name", nullptr}};
}

struct Stats {
  double mean = 0, stddev = 0, max_abs = 0;
};

Stats StatsOf(const Tensor& t) {
  Stats s;
  const double n = static_cast<double>(t.num_elements());
  for (int64_t i = 0; i < t.num_elements(); ++i) s.mean += t.GetAsDouble(i) / n;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    const double d = t.GetAsDouble(i) - s.mean;
    s.stddev += d * d / n;
    s.max_abs = std::max(s.max_abs, std::fabs(t.GetAsDouble(i)));
  }
  s.stddev = std::sqrt(s.stddev);
  return s;
}

TEST(InitializersTest, Constants) {
  EXPECT_EQ(StatsOf(Draw(Keras("Zeros"), Shape{3, 4})).max_abs, 0.0);
  Stats ones = StatsOf(Draw(Keras("Ones"), Shape{3, 4}));
  EXPECT_EQ(ones.mean, 1.0);
  EXPECT_EQ(ones.stddev, 0.0);
  EXPECT_FLOAT_EQ(Draw(Keras("Constant", {{"value", 0.5}}), Shape{2}).GetAsDouble(1), 0.5);
  Tensor eye = Draw(Keras("Identity", {{"gain", 2.0}}), Shape{3, 3});
  EXPECT_EQ(eye.GetAsDouble(0), 2.0);
  EXPECT_EQ(eye.GetAsDouble(1), 0.0);
  EXPECT_EQ(eye.GetAsDouble(4), 2.0);
}

TEST(InitializersTest, RandomUniformAndNormal) {
  Stats u =
      StatsOf(Draw(Keras("RandomUniform", {{"minval", -0.05}, {"maxval", 0.05}, {"seed", nullptr}}),
                   Shape{100, 100}));
  EXPECT_LE(u.max_abs, 0.05);
  EXPECT_NEAR(u.mean, 0.0, 0.002);
  EXPECT_NEAR(u.stddev, 0.1 / std::sqrt(12.0), 0.002);
  Stats n = StatsOf(Draw(Keras("RandomNormal", {{"mean", 1.0}, {"stddev", 0.5}}), Shape{100, 100}));
  EXPECT_NEAR(n.mean, 1.0, 0.02);
  EXPECT_NEAR(n.stddev, 0.5, 0.02);
  // Truncated at two standard deviations.
  Stats t = StatsOf(Draw(Keras("TruncatedNormal", {{"stddev", 0.05}}), Shape{100, 100}));
  EXPECT_LE(t.max_abs, 0.1);
  EXPECT_NEAR(t.stddev, 0.05 * 0.87962566103423978, 0.002);
}

TEST(InitializersTest, VarianceScalingFamiliesUseKerasFans) {
  // Dense kernel (fan_in 200, fan_out 100).
  Stats glorot = StatsOf(Draw(Keras("GlorotUniform"), Shape{200, 100}));
  EXPECT_LE(glorot.max_abs, std::sqrt(6.0 / 300));
  EXPECT_NEAR(glorot.stddev, std::sqrt(2.0 / 300), 0.002);
  Stats he = StatsOf(Draw(Keras("HeNormal"), Shape{200, 100}));
  EXPECT_NEAR(he.stddev, std::sqrt(2.0 / 200), 0.004);
  EXPECT_LE(he.max_abs, 2 * std::sqrt(2.0 / 200) / 0.87962566103423978 + 1e-6);
  Stats lecun = StatsOf(Draw(Keras("LecunUniform"), Shape{200, 100}));
  EXPECT_LE(lecun.max_abs, std::sqrt(3.0 / 200));
  // Conv kernel (3, 3, 4, 8): receptive field 9, fan_in 36, fan_out 72.
  Stats conv = StatsOf(Draw(Keras("HeUniform"), Shape{3, 3, 4, 8}));
  EXPECT_LE(conv.max_abs, std::sqrt(6.0 / 36));
  EXPECT_GT(conv.max_abs, 0.9 * std::sqrt(6.0 / 36));
  Stats untruncated = StatsOf(
      Draw(Keras("VarianceScaling",
                 {{"scale", 3.0}, {"mode", "fan_out"}, {"distribution", "untruncated_normal"}}),
           Shape{200, 100}));
  EXPECT_NEAR(untruncated.stddev, std::sqrt(3.0 / 100), 0.005);
}

TEST(InitializersTest, OrthogonalColumnsAreOrthonormal) {
  Tensor q = Draw(Keras("Orthogonal", {{"gain", 1.0}}), Shape{8, 5});
  for (int a = 0; a < 5; ++a) {
    for (int c = 0; c < 5; ++c) {
      double dot = 0;
      for (int r = 0; r < 8; ++r) dot += q.GetAsDouble(r * 5 + a) * q.GetAsDouble(r * 5 + c);
      EXPECT_NEAR(dot, a == c ? 1.0 : 0.0, 1e-5);
    }
  }
}

TEST(InitializersTest, SeedsAreDeterministic) {
  const json seeded = Keras("GlorotUniform", {{"seed", 42}});
  // A config seed wins over the fallback; without one the fallback decides.
  EXPECT_TRUE(Draw(seeded, Shape{4, 4}, 1).BitwiseEquals(Draw(seeded, Shape{4, 4}, 2)));
  EXPECT_FALSE(Draw(seeded, Shape{4, 4})
                   .BitwiseEquals(Draw(Keras("GlorotUniform", {{"seed", 43}}), Shape{4, 4})));
  const json unseeded = Keras("GlorotUniform");
  EXPECT_TRUE(Draw(unseeded, Shape{4, 4}, 1).BitwiseEquals(Draw(unseeded, Shape{4, 4}, 1)));
  EXPECT_FALSE(Draw(unseeded, Shape{4, 4}, 1).BitwiseEquals(Draw(unseeded, Shape{4, 4}, 2)));
  // The generator itself is a fixed function (portable across platforms).
  EXPECT_EQ(MixSeed(0, 0), MixSeed(0, 0));
  EXPECT_NE(UniformAt(1, 0), UniformAt(1, 1));
}

TEST(InitializersTest, StringIdentifiers) {
  EXPECT_LE(StatsOf(Draw("glorot_uniform", Shape{10, 10})).max_abs, std::sqrt(6.0 / 20));
  EXPECT_EQ(StatsOf(Draw("zeros", Shape{3})).max_abs, 0.0);
  EXPECT_EQ(StatsOf(Draw("ones", Shape{3})).mean, 1.0);
  EXPECT_LE(StatsOf(Draw("uniform", Shape{10, 10})).max_abs, 0.05);  // Embedding's default
  EXPECT_GT(StatsOf(Draw("he_normal", Shape{10, 10})).stddev, 0.0);
}

TEST(InitializersTest, Errors) {
  auto message = [](const json& spec) {
    return std::string(
        GetInitializer(spec, "layer 'd': argument `kernel_initializer`").status().message());
  };
  EXPECT_THAT(message(Keras("Magic")),
              ::testing::HasSubstr("unknown initializer 'Magic'; supported: "));
  EXPECT_THAT(
      message(Keras("VarianceScaling", {{"mode", "fan_sideways"}})),
      ::testing::HasSubstr("argument `mode` must be one of {'fan_in', 'fan_out', 'fan_avg'}. "
                           "Received: mode='fan_sideways'"));
  EXPECT_THAT(message(Keras("GlorotUniform", {{"seed", "x"}})),
              ::testing::HasSubstr("argument `seed` must be an integer or None"));
  EXPECT_THAT(message(json(3)),
              ::testing::HasSubstr("could not interpret initializer identifier: 3"));
}

}  // namespace
}  // namespace fornax
