#include "engine/ir/graph.h"

#include <gtest/gtest.h>

#include "engine/ir/builder.h"

namespace fornax {
namespace {

TEST(OpNameTest, MatchesOpsDef) {
  EXPECT_EQ(OpName(Op::kAdd), "add");
  EXPECT_EQ(OpName(Op::kConv2DBackpropFilter), "conv2d_backprop_filter");
  EXPECT_EQ(OpName(Op::kFusedConv2D), "fused_conv2d");
  EXPECT_EQ(OpArity(Op::kWhere), 3);
  EXPECT_EQ(OpArity(Op::kConcat), -1);
  EXPECT_EQ(OpArity(Op::kInput), 0);
}

TEST(GraphTest, ToStringPrintsNodesAttrsAndOutputs) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 10}, "x");
  ValueId w = b.Variable(3, DType::kFloat32, Shape{10}, "dense/bias");
  ValueId s = b.Add(x, w);
  ValueId r = b.Sum(s, {-1});
  ASSERT_TRUE(b.ok()) << b.status();
  g.AddOutput(r);
  EXPECT_EQ(g.ToString(),
            "%0 = input() {index=0} : float32(None, 10)  # x\n"
            "%1 = variable() {index=3} : float32(10,)  # dense/bias\n"
            "%2 = add(%0, %1) : float32(None, 10)\n"
            "%3 = reduce_sum(%2) {axes=[1]} : float32(None,)\n"
            "outputs: %3\n");
}

TEST(GraphTest, ToStringPrintsScalarConstantsAndCasts) {
  Graph g;
  Builder b(&g);
  ValueId c = b.Scalar(2.5);
  b.Cast(c, DType::kFloat16);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(g.ToString(),
            "%0 = constant() {value=float32() [2.5]} : float32()\n"
            "%1 = cast(%0) {to=float16} : float16()\n");
}

}  // namespace
}  // namespace fornax
