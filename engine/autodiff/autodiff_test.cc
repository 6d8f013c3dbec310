// Structural tests of the autodiff driver; numerical checks of every gradient
// rule live in gradient_check_test.cc.
#include "engine/autodiff/autodiff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fornax {
namespace {

using ::testing::HasSubstr;

TEST(AutodiffTest, ReducesBroadcastGradientsToInputShapes) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 3});
  ValueId bias = b.Variable(0, DType::kFloat32, Shape{3});
  ValueId scale = b.Variable(1, DType::kFloat32, Shape{});
  ValueId y = b.SumAll(b.Mul(b.Add(x, bias), scale));
  absl::StatusOr<std::vector<ValueId>> grads =
      Gradients(b, y, std::vector<ValueId>{x, bias, scale});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_EQ(b.shape((*grads)[0]), (Shape{kBatch, 3}));
  EXPECT_EQ(b.shape((*grads)[1]), (Shape{3}));
  EXPECT_EQ(b.shape((*grads)[2]), (Shape{}));
}

TEST(AutodiffTest, UnrelatedValuesGetZerosAndAreNotWalked) {
  Graph g;
  Builder b(&g);
  ValueId w = b.Variable(0, DType::kFloat32, Shape{2, 2});
  ValueId other = b.Variable(1, DType::kFloat32, Shape{4});
  ValueId unrelated = b.Exp(w);  // y does not depend on it
  ValueId y = b.SumAll(b.Mul(w, b.Scalar(3)));
  int before = g.size();
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, y, std::vector<ValueId>{w, other});
  ASSERT_TRUE(grads.ok()) << grads.status();
  for (ValueId i = before; i < g.size(); ++i) {
    for (ValueId in : g.node(i).inputs) EXPECT_NE(in, unrelated) << g.ToString();
  }
  ValueId zeros = (*grads)[1];
  EXPECT_EQ(b.shape(zeros), Shape{4});
  ASSERT_EQ(g.node(zeros).op, Op::kBroadcastTo);
  EXPECT_EQ(g.node(g.node(zeros).inputs[0]).attrs.value.GetAsDouble(0), 0.0);
}

TEST(AutodiffTest, SumsGradientsAtFanOut) {
  Graph g;
  Builder b(&g);
  ValueId w = b.Variable(0, DType::kFloat32, Shape{3});
  ValueId y = b.SumAll(b.Add(b.Exp(w), b.Neg(w)));
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, y, std::vector<ValueId>{w});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_EQ(g.node((*grads)[0]).op, Op::kAdd);
}

TEST(AutodiffTest, NonDifferentiablePathsGiveZeros) {
  Graph g;
  Builder b(&g);
  ValueId w = b.Variable(0, DType::kFloat32, Shape{3});
  ValueId y = b.SumAll(b.Cast(b.ArgMax(b.Reshape(w, Shape{1, 3}), 1), DType::kFloat32));
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, y, std::vector<ValueId>{w});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_EQ(g.node((*grads)[0]).op, Op::kBroadcastTo);
}

TEST(AutodiffTest, RejectsNonFloatY) {
  Graph g;
  Builder b(&g);
  ValueId i = b.Input(0, DType::kInt32, Shape{});
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, i, std::vector<ValueId>{i});
  EXPECT_EQ(grads.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(grads.status().message()),
              HasSubstr("expected y to be a floating value"));
}

}  // namespace
}  // namespace fornax
