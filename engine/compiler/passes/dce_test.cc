#include "engine/compiler/passes/dce.h"

#include "engine/ir/builder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::ElementsAre;

TEST(DceTest, RemovesWhatNoOutputOrAssignNeeds) {
  Graph g;
  Builder b(&g);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 2});  // %0
  const ValueId w = b.Variable(0, DType::kFloat32, Shape{2});       // %1
  b.Exp(x);                                                         // %2 dead
  const ValueId y = b.Mul(x, w);                                    // %3
  b.Neg(b.Sigmoid(y));                                              // %4, %5 dead
  const ValueId upd = b.Sub(w, b.Scalar(1.0));                      // %6, %7
  b.Assign(0, upd);                                                 // %8 root
  g.set_outputs({y});
  ASSERT_TRUE(b.ok()) << b.status();
  DcePass dce;
  absl::StatusOr<bool> changed = dce.Run(&g);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  ASSERT_EQ(g.size(), 6);
  std::vector<Op> ops;
  for (const Node& n : g.nodes()) ops.push_back(n.op);
  EXPECT_THAT(
      ops, ElementsAre(Op::kInput, Op::kVariable, Op::kMul, Op::kConstant, Op::kSub, Op::kAssign));
  EXPECT_THAT(g.outputs(), ElementsAre(2));
  EXPECT_THAT(g.node(5).inputs, ElementsAre(4));
  // A second run finds nothing to do.
  changed = dce.Run(&g);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
}

TEST(DceTest, UnusedInputsAndVariablesGoToo) {
  Graph g;
  Builder b(&g);
  b.Input(0, DType::kFloat32, Shape{kBatch, 2});
  const ValueId x1 = b.Input(1, DType::kFloat32, Shape{kBatch, 2});
  b.Variable(0, DType::kFloat32, Shape{2});
  g.set_outputs({b.Relu(x1)});
  DcePass dce;
  ASSERT_TRUE(dce.Run(&g).ok());
  ASSERT_EQ(g.size(), 2);
  EXPECT_EQ(g.node(0).attrs.index, 1);
}

}  // namespace
}  // namespace fornax
