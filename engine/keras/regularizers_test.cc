// Regularizers parse Keras's serialized forms and emit Keras's penalty.
#include "engine/keras/regularizers.h"

#include "engine/keras/layers/layer_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

TEST(RegularizersTest, ParsesKerasForms) {
  auto l2 = GetRegularizer({{"module", "keras.regularizers"},
                            {"class_name", "L2"},
                            {"config", {{"l2", 0.02}}},
                            {"registered_name", nullptr}},
                           "t");
  ASSERT_TRUE(l2.ok() && l2->has_value());
  EXPECT_EQ((*l2)->l1, 0.0);
  EXPECT_EQ((*l2)->l2, 0.02);
  auto both = GetRegularizer({{"class_name", "L1L2"}, {"config", {{"l1", 0.1}, {"l2", 0.2}}}}, "t");
  ASSERT_TRUE(both.ok() && both->has_value());
  EXPECT_EQ((*both)->l1, 0.1);
  EXPECT_EQ((*both)->l2, 0.2);
  EXPECT_EQ((*GetRegularizer(json("l1"), "t"))->l1, 0.01);
  EXPECT_EQ((*GetRegularizer(json("l2"), "t"))->l2, 0.01);
  EXPECT_FALSE(GetRegularizer(json(), "t")->has_value());
  EXPECT_THAT(std::string(GetRegularizer(json("l3"), "layer 'd'").status().message()),
              ::testing::HasSubstr("layer 'd': unknown regularizer 'l3'"));
  EXPECT_THAT(std::string(GetRegularizer({{"class_name", "L2"}, {"config", {{"l2", "big"}}}}, "c")
                              .status()
                              .message()),
              ::testing::HasSubstr("argument `l2` must be a number. Received: l2='big'"));
}

TEST(RegularizersTest, PenaltyIsL1SumAbsPlusL2SumSquares) {
  Graph graph;
  Builder b(&graph);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 2});
  graph.set_outputs({Regularizer{0.1, 0.2}.Apply(b, x)});
  const std::vector<float> values = {1, -2, 3, -4};
  std::vector<Tensor> inputs = {Tensor::FromFloats(Shape{2, 2}, values)};
  absl::StatusOr<std::vector<Tensor>> out = testing::RunGraph(graph, "reference", 2, inputs, {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NEAR((*out)[0].GetAsDouble(0), 0.1 * 10 + 0.2 * 30, 1e-5);
}

}  // namespace
}  // namespace fornax
