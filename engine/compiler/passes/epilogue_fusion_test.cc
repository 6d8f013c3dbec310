#include "engine/compiler/passes/epilogue_fusion.h"

#include "engine/compiler/passes/fusion_test_util.h"
#include "engine/ir/builder.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using testing::CountOp;
using testing::ExpectAllNear;
using testing::RandomTensor;
using testing::RunGraph;

const Node* Find(const Graph& g, Op op) {
  for (const Node& node : g.nodes()) {
    if (node.op == op) return &node;
  }
  return nullptr;
}

// Dense layer with ReLU and the ReLU gradient as autodiff writes it
// (Where(Greater(pre, 0), dy, 0)), which reads the pre-activation again.
TEST(EpilogueFusionTest, DenseReluWithGradientBecomesFusedMatMul) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 20});
  ValueId dy = b.Input(1, DType::kFloat32, Shape{kBatch, 16});
  ValueId w = b.Variable(0, DType::kFloat32, Shape{20, 16});
  ValueId bias = b.Variable(1, DType::kFloat32, Shape{16});
  ValueId pre = b.Add(b.MatMul(x, w), bias);
  ValueId y = b.Relu(pre);
  ValueId dpre = b.Where(b.Binary(Op::kGreater, pre, b.Scalar(0.0)), dy, b.Scalar(0.0));
  g.AddOutput(y);
  g.AddOutput(b.MatMul(x, dpre, /*transpose_a=*/true));
  ASSERT_TRUE(b.ok()) << b.status();
  Graph before = g;
  ASSERT_TRUE(EpilogueFusionPass().Run(&g).value());
  const Node* fused = Find(g, Op::kFusedMatMul);
  ASSERT_NE(fused, nullptr) << g.ToString();
  EXPECT_TRUE(fused->attrs.has_bias);
  EXPECT_EQ(fused->attrs.epilogue, std::vector<Op>{Op::kRelu});
  EXPECT_EQ(CountOp(g, Op::kAdd), 0);
  EXPECT_EQ(CountOp(g, Op::kRelu), 0);
  EXPECT_EQ(CountOp(g, Op::kMatMul), 1);  // the gradient matmul stays plain
  std::vector<Tensor> vars = {RandomTensor(Shape{20, 16}, 3), RandomTensor(Shape{16}, 4)};
  for (int64_t batch : {8, 3}) {  // full and short last batch on one plan
    std::vector<Tensor> in = {RandomTensor(Shape{batch, 20}, 1), RandomTensor(Shape{batch, 16}, 2)};
    ExpectAllNear(RunGraph(g, in, vars, 8), RunGraph(before, in, vars, 8), 1e-5);
  }
}

TEST(EpilogueFusionTest, BiasRowAndSigmoidWithoutGradient) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 5});
  ValueId w = b.Variable(0, DType::kFloat32, Shape{7, 5});
  ValueId bias = b.Variable(1, DType::kFloat32, Shape{1, 7});
  g.AddOutput(b.Sigmoid(b.Add(bias, b.MatMul(x, w, false, true))));
  ASSERT_TRUE(b.ok()) << b.status();
  Graph before = g;
  ASSERT_TRUE(EpilogueFusionPass().Run(&g).value());
  ASSERT_NE(Find(g, Op::kFusedMatMul), nullptr);
  EXPECT_TRUE(Find(g, Op::kFusedMatMul)->attrs.transpose_b);
  std::vector<Tensor> vars = {RandomTensor(Shape{7, 5}, 3), RandomTensor(Shape{1, 7}, 4)};
  std::vector<Tensor> in = {RandomTensor(Shape{4, 5}, 1)};
  ExpectAllNear(RunGraph(g, in, vars, 4), RunGraph(before, in, vars, 4), 1e-6);
}

TEST(EpilogueFusionTest, StopsAtValuesReadElsewhere) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 5});
  ValueId w = b.Variable(0, DType::kFloat32, Shape{5, 3});
  ValueId bias = b.Variable(1, DType::kFloat32, Shape{3});
  ValueId pre = b.Add(b.MatMul(x, w), bias);
  g.AddOutput(b.Tanh(pre));
  g.AddOutput(pre);  // the pre-activation is an output: only matmul+bias fuse
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(EpilogueFusionPass().Run(&g).value());
  const Node* fused = Find(g, Op::kFusedMatMul);
  ASSERT_NE(fused, nullptr);
  EXPECT_TRUE(fused->attrs.epilogue.empty());
  EXPECT_EQ(CountOp(g, Op::kTanh), 1);
}

TEST(EpilogueFusionTest, ConvBiasReluBecomesFusedConv2D) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 9, 9, 2});
  ValueId w = b.Variable(0, DType::kFloat32, Shape{3, 3, 2, 4});
  ValueId bias = b.Variable(1, DType::kFloat32, Shape{4});
  g.AddOutput(b.Relu(b.Add(b.Conv2D(x, w, {1, 1}, Padding::kSame), bias)));
  ASSERT_TRUE(b.ok()) << b.status();
  Graph before = g;
  ASSERT_TRUE(EpilogueFusionPass().Run(&g).value());
  ASSERT_NE(Find(g, Op::kFusedConv2D), nullptr) << g.ToString();
  EXPECT_EQ(CountOp(g, Op::kConv2D), 0);
  std::vector<Tensor> vars = {RandomTensor(Shape{3, 3, 2, 4}, 3), RandomTensor(Shape{4}, 4)};
  std::vector<Tensor> in = {RandomTensor(Shape{2, 9, 9, 2}, 1)};
  ExpectAllNear(RunGraph(g, in, vars, 2), RunGraph(before, in, vars, 2), 1e-5);
}

}  // namespace
}  // namespace fornax
