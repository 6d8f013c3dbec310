#include "engine/compiler/rewrite.h"

#include "engine/ir/builder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::ElementsAre;

// %0 x, %1 exp, %2 neg, %3 exp(x) again, %4 add(%1, %3); output %4 and %2.
Graph SmallGraph() {
  Graph g;
  Builder b(&g);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 3});
  const ValueId e1 = b.Exp(x);
  const ValueId n = b.Neg(x);
  const ValueId e2 = b.Exp(x);
  g.set_outputs({b.Add(e1, e2), n});
  EXPECT_TRUE(b.ok());
  return g;
}

TEST(RewriteTest, UseCountsAndConsumers) {
  const Graph g = SmallGraph();
  EXPECT_THAT(UseCounts(g), ElementsAre(3, 1, 1, 1, 1));
  const auto consumers = Consumers(g);
  EXPECT_THAT(consumers[0], ElementsAre(1, 2, 3));
  EXPECT_THAT(consumers[3], ElementsAre(4));
  EXPECT_TRUE(consumers[4].empty());
}

TEST(RewriteTest, SubstituteDropsReplacedNodesAndRemapsUses) {
  const Graph g = SmallGraph();
  const Graph s = Substitute(g, {0, 1, 2, 1, 4});
  ASSERT_EQ(s.size(), 4);
  EXPECT_EQ(s.node(3).op, Op::kAdd);
  EXPECT_THAT(s.node(3).inputs, ElementsAre(1, 1));
  EXPECT_THAT(s.outputs(), ElementsAre(3, 2));
}

TEST(RewriteTest, CompactKeepsOrder) {
  Graph g = SmallGraph();
  g.set_outputs({2});
  const Graph c = Compact(g, {true, false, true, false, false});
  ASSERT_EQ(c.size(), 2);
  EXPECT_EQ(c.node(1).op, Op::kNeg);
  EXPECT_THAT(c.node(1).inputs, ElementsAre(0));
  EXPECT_THAT(c.outputs(), ElementsAre(1));
}

TEST(RewriteTest, RemapBuilderReplacesANodeByANewOne) {
  const Graph g = SmallGraph();
  RemapBuilder rb(g);
  for (ValueId v = 0; v < g.size(); ++v) {
    if (v == 4) {
      // add(exp(x), exp(x)) -> mul(exp(x), 2) written as a new node.
      Node twice = g.node(1);
      twice.op = Op::kSigmoid;  // any same-shaped stand-in
      twice.inputs = rb.MapAll(std::vector<ValueId>{1});
      rb.Replace(4, rb.Append(std::move(twice)));
    } else if (v != 3) {
      rb.Keep(v);
    }
  }
  const Graph out = std::move(rb).Finish();
  ASSERT_EQ(out.size(), 4);
  EXPECT_EQ(out.node(3).op, Op::kSigmoid);
  EXPECT_THAT(out.node(3).inputs, ElementsAre(1));
  EXPECT_THAT(out.outputs(), ElementsAre(3, 2));
  EXPECT_EQ(rb.Map(3), kNoValue);
}

}  // namespace
}  // namespace fornax
