#include "engine/compiler/passes/cse.h"

#include "engine/compiler/passes/fusion_test_util.h"
#include "engine/ir/builder.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using testing::CountOp;
using testing::ExpectAllNear;
using testing::RandomTensor;
using testing::RunGraph;

TEST(CseTest, MergesEqualNodesAndConstants) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 4});
  ValueId y = b.Input(1, DType::kFloat32, Shape{kBatch, 4});
  ValueId s1 = b.Add(x, y);
  ValueId s2 = b.Add(x, y);
  ValueId m1 = b.Mul(s1, b.Scalar(2.0));
  ValueId m2 = b.Mul(s2, b.Scalar(2.0));  // equal once s2 -> s1 and the constants merge
  g.AddOutput(b.Sub(m1, m2));
  g.AddOutput(m2);
  ASSERT_TRUE(b.ok()) << b.status();
  Graph before = g;
  ASSERT_TRUE(CsePass().Run(&g).value());
  EXPECT_EQ(CountOp(g, Op::kAdd), 1);
  EXPECT_EQ(CountOp(g, Op::kMul), 1);
  EXPECT_EQ(CountOp(g, Op::kConstant), 1);
  EXPECT_FALSE(CsePass().Run(&g).value());  // a fixed point
  std::vector<Tensor> in = {RandomTensor(Shape{3, 4}, 1), RandomTensor(Shape{3, 4}, 2)};
  ExpectAllNear(RunGraph(g, in, {}, 4), RunGraph(before, in, {}, 4), 0.0);
}

TEST(CseTest, KeepsInputsVariablesAssignsAndDistinctRandomStreams) {
  Graph g;
  Builder b(&g);
  ValueId x0 = b.Input(0, DType::kFloat32, Shape{4});
  ValueId x1 = b.Input(0, DType::kFloat32, Shape{4});
  ValueId v0 = b.Variable(0, DType::kFloat32, Shape{4});
  ValueId v1 = b.Variable(0, DType::kFloat32, Shape{4});
  ValueId r0 = b.RandomUniform(Shape{4}, 7);
  ValueId r1 = b.RandomUniform(Shape{4}, 8);
  ValueId r2 = b.RandomUniform(Shape{4}, 7);  // same stream and shape: same numbers
  b.Assign(0, b.Add(b.Add(x0, v0), b.Add(x1, v1)));
  g.AddOutput(b.Add(r0, r1));
  g.AddOutput(r2);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(CsePass().Run(&g).value());
  EXPECT_EQ(CountOp(g, Op::kInput), 2);
  EXPECT_EQ(CountOp(g, Op::kVariable), 2);
  EXPECT_EQ(CountOp(g, Op::kAssign), 1);
  EXPECT_EQ(CountOp(g, Op::kRandomUniform), 2);
}

}  // namespace
}  // namespace fornax
