#include "engine/ir/builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace fornax {
namespace {

using ::testing::HasSubstr;

TEST(BuilderTest, ErrorsAreSticky) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{2, 3});
  ValueId bad = b.MatMul(x, x);
  EXPECT_EQ(bad, kNoValue);
  int size = g.size();
  EXPECT_EQ(b.Exp(x), kNoValue);  // a valid call after the failure emits nothing
  EXPECT_EQ(b.Add(bad, bad), kNoValue);
  EXPECT_EQ(g.size(), size);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("matmul: inner dimensions differ"));
  absl::Status taken = b.TakeStatus();
  EXPECT_FALSE(taken.ok());
  EXPECT_TRUE(b.ok());
  EXPECT_NE(b.Exp(x), kNoValue);
}

TEST(BuilderTest, UnknownValueIsAnError) {
  Graph g;
  Builder b(&g);
  EXPECT_EQ(b.Exp(5), kNoValue);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("value %5 does not exist"));
}

TEST(BuilderTest, PromotesIntWithFloatToFloat) {
  Graph g;
  Builder b(&g);
  ValueId i = b.Input(0, DType::kInt32, Shape{3});
  ValueId f = b.Input(1, DType::kFloat32, Shape{3});
  ValueId s = b.Add(i, f);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b.dtype(s), DType::kFloat32);
  const Node& cast = g.node(g.node(s).inputs[0]);
  EXPECT_EQ(cast.op, Op::kCast);
  EXPECT_EQ(cast.inputs[0], i);
  EXPECT_EQ(g.node(s).inputs[1], f);
}

TEST(BuilderTest, PromotesInt32WithInt64AndBoolWithFloat) {
  Graph g;
  Builder b(&g);
  ValueId i32 = b.Input(0, DType::kInt32, Shape{3});
  ValueId i64 = b.Input(1, DType::kInt64, Shape{3});
  ValueId mask = b.Input(2, DType::kBool, Shape{3});
  ValueId f16 = b.Input(3, DType::kFloat16, Shape{3});
  ValueId bf16 = b.Input(4, DType::kBFloat16, Shape{3});
  EXPECT_EQ(b.dtype(b.Mul(i32, i64)), DType::kInt64);
  EXPECT_EQ(b.dtype(b.Mul(mask, f16)), DType::kFloat16);
  EXPECT_EQ(b.dtype(b.Mul(f16, bf16)), DType::kFloat32);
  EXPECT_EQ(b.dtype(b.Binary(Op::kEqual, i32, f16)), DType::kBool);
  EXPECT_TRUE(b.ok()) << b.status();
}

TEST(BuilderTest, ScalarConstantsAreWeaklyTyped) {
  Graph g;
  Builder b(&g);
  ValueId h = b.Input(0, DType::kFloat16, Shape{3});
  ValueId y = b.Mul(h, b.Scalar(2.0));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b.dtype(y), DType::kFloat16);
  EXPECT_EQ(g.node(g.node(y).inputs[1]).op, Op::kConstant);
  // An int tensor times a float literal still becomes float.
  ValueId i = b.Input(1, DType::kInt32, Shape{3});
  EXPECT_EQ(b.dtype(b.Mul(i, b.Scalar(0.5))), DType::kFloat32);
}

TEST(BuilderTest, ScalarAndFill) {
  Graph g;
  Builder b(&g);
  ValueId s = b.Scalar(3, DType::kInt64);
  EXPECT_EQ(b.dtype(s), DType::kInt64);
  EXPECT_EQ(b.shape(s), Shape{});
  EXPECT_EQ(g.node(s).attrs.value.GetAsDouble(0), 3.0);
  ValueId f = b.Fill(1.0, DType::kFloat32, Shape{kBatch, 2});
  EXPECT_EQ(b.shape(f), (Shape{kBatch, 2}));
  EXPECT_TRUE(b.ok()) << b.status();
}

TEST(BuilderTest, NoOpCastReshapeBroadcastReturnInput) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 2});
  EXPECT_EQ(b.Cast(x, DType::kFloat32), x);
  EXPECT_EQ(b.Reshape(x, Shape{kBatch, 2}), x);
  EXPECT_EQ(b.BroadcastTo(x, Shape{kBatch, 2}), x);
  EXPECT_EQ(g.size(), 1);
}

TEST(BuilderTest, CompositesBuildFromPrimitives) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 5});
  ValueId sm = b.Softmax(x);
  ValueId lsm = b.LogSoftmax(x, 1);
  ValueId sp = b.Softplus(x);
  ASSERT_TRUE(b.ok()) << b.status();
  for (ValueId v : {sm, lsm, sp}) EXPECT_EQ(b.shape(v), (Shape{kBatch, 5}));
  EXPECT_EQ(g.node(sm).op, Op::kDiv);
  EXPECT_EQ(g.node(sp).op, Op::kAdd);
  b.Softmax(x, 2);
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("axis 2 is out of range"));
}

}  // namespace
}  // namespace fornax
