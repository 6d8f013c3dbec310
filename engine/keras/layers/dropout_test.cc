// Dropout behaves as Keras documents: identity at inference; in training,
// each element is kept with probability 1 - rate and scaled by 1 / (1 - rate);
// masks are deterministic per (run seed, step, layer) and differ between
// layers.
#include <cmath>

#include "engine/keras/layers/layer_test_util.h"
#include "engine/keras/layers/registry.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

std::unique_ptr<Layer> NewDropout(const std::string& name, json extra = json::object()) {
  json config = {{"name", name}, {"rate", 0.25}};
  config.update(extra);
  absl::StatusOr<std::unique_ptr<Layer>> layer =
      CreateLayer({{"class_name", "Dropout"}, {"config", config}});
  EXPECT_TRUE(layer.ok()) << layer.status();
  std::vector<TensorSpec> specs = {{"x", DType::kFloat32, Shape{kBatch, 500}}};
  EXPECT_TRUE((*layer)->Build(specs).ok());
  return std::move(*layer);
}

// Runs `layers` (each on the same all-ones input) and returns their outputs.
std::vector<Tensor> RunLayers(const std::vector<const Layer*>& layers, bool training,
                              uint64_t seed) {
  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> x = {b.Input(0, DType::kFloat32, Shape{kBatch, 500})};
  std::vector<ValueId> outs;
  CallContext ctx;
  ctx.training = training;
  for (const Layer* layer : layers) {
    absl::StatusOr<std::vector<ValueId>> y = layer->Apply(b, x, ctx);
    EXPECT_TRUE(y.ok()) << y.status();
    // Keep every output a computed value (an identity Dropout returns x).
    outs.push_back(b.Mul((*y)[0], b.Scalar(1.0)));
  }
  graph.set_outputs(outs);
  Tensor ones(DType::kFloat32, Shape{4, 500});
  for (int64_t i = 0; i < ones.num_elements(); ++i) ones.SetFromDouble(i, 1.0);
  std::vector<Tensor> inputs = {ones};
  absl::StatusOr<std::vector<Tensor>> result =
      testing::RunGraph(graph, "reference", 4, inputs, {}, seed);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : std::vector<Tensor>{};
}

TEST(DropoutTest, InferenceIsIdentity) {
  auto layer = NewDropout("dropout");
  std::vector<Tensor> out = RunLayers({layer.get()}, /*training=*/false, 1);
  ASSERT_EQ(out.size(), 1u);
  for (int64_t i = 0; i < out[0].num_elements(); ++i) ASSERT_EQ(out[0].GetAsDouble(i), 1.0);
}

TEST(DropoutTest, TrainingDropsAtTheRateAndScalesTheRest) {
  auto layer = NewDropout("dropout");
  std::vector<Tensor> out = RunLayers({layer.get()}, /*training=*/true, 1);
  ASSERT_EQ(out.size(), 1u);
  int64_t dropped = 0;
  for (int64_t i = 0; i < out[0].num_elements(); ++i) {
    const double v = out[0].GetAsDouble(i);
    if (v == 0.0) {
      ++dropped;
    } else {
      ASSERT_FLOAT_EQ(v, 1.0 / 0.75);
    }
  }
  const double fraction = static_cast<double>(dropped) / static_cast<double>(out[0].num_elements());
  EXPECT_NEAR(fraction, 0.25, 0.03);
}

TEST(DropoutTest, MasksAreDeterministicAndDifferBetweenLayersAndSeeds) {
  auto first = NewDropout("dropout");
  auto second = NewDropout("dropout_1");
  std::vector<Tensor> a = RunLayers({first.get(), second.get()}, true, 1);
  std::vector<Tensor> again = RunLayers({first.get(), second.get()}, true, 1);
  std::vector<Tensor> other_seed = RunLayers({first.get(), second.get()}, true, 2);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(a[0].BitwiseEquals(again[0]));
  EXPECT_TRUE(a[1].BitwiseEquals(again[1]));
  EXPECT_FALSE(a[0].BitwiseEquals(a[1]));
  EXPECT_FALSE(a[0].BitwiseEquals(other_seed[0]));
}

TEST(DropoutTest, NoiseShapeSharesTheMaskAlongOneDims) {
  auto layer = NewDropout("dropout", {{"noise_shape", {nullptr, 1}}});
  std::vector<Tensor> out = RunLayers({layer.get()}, true, 3);
  ASSERT_EQ(out.size(), 1u);
  for (int64_t row = 0; row < 4; ++row) {
    for (int64_t col = 1; col < 500; ++col) {
      ASSERT_EQ(out[0].GetAsDouble(row * 500 + col), out[0].GetAsDouble(row * 500));
    }
  }
}

}  // namespace
}  // namespace fornax
