#include "engine/compiler/passes/fusion.h"

#include "engine/compiler/passes/fusion_test_util.h"
#include "engine/ir/builder.h"
#include "engine/ir/fused_program.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using testing::CountOp;
using testing::ExpectAllNear;
using testing::RandomTensor;
using testing::RunGraph;

TEST(FusionTest, ChainWithBiasRowAndScalarsBecomesOneNode) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 6});
  ValueId bias = b.Input(1, DType::kFloat32, Shape{6});
  ValueId y = b.Exp(b.Mul(b.Add(x, bias), b.Scalar(0.5)));
  g.AddOutput(b.Where(b.Binary(Op::kGreater, y, b.Scalar(1.0)), y, b.Neg(y)));
  ASSERT_TRUE(b.ok()) << b.status();
  Graph before = g;
  ASSERT_TRUE(FusionPass().Run(&g).value());
  ASSERT_EQ(CountOp(g, Op::kFusedElementwise), 1) << g.ToString();
  for (Op op : {Op::kAdd, Op::kMul, Op::kExp, Op::kGreater, Op::kWhere, Op::kNeg}) {
    EXPECT_EQ(CountOp(g, op), 0) << OpName(op);
  }
  const Node& fused = g.node(g.outputs()[0]);
  ASSERT_EQ(fused.op, Op::kFusedElementwise);
  EXPECT_EQ(fused.inputs.size(), 2u);  // x and bias; the scalars live in the program
  EXPECT_EQ(fused.attrs.program->constants.size(), 2u);
  for (int64_t batch : {5, 2}) {
    std::vector<Tensor> in = {RandomTensor(Shape{batch, 6}, 1), RandomTensor(Shape{6}, 2)};
    ExpectAllNear(RunGraph(g, in, {}, 5), RunGraph(before, in, {}, 5), 1e-6);
  }
}

TEST(FusionTest, ValuesReadOutsideTheGroupStayOutside) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{4, 3});
  ValueId s = b.Sqrt(b.Abs(x));
  ValueId t = b.Add(s, b.Scalar(1.0));
  g.AddOutput(b.Mul(t, t));
  g.AddOutput(s);  // s is an output: it must still be computed on its own
  ASSERT_TRUE(b.ok()) << b.status();
  Graph before = g;
  ASSERT_TRUE(FusionPass().Run(&g).value());
  EXPECT_EQ(CountOp(g, Op::kFusedElementwise), 2) << g.ToString();  // {abs, sqrt} and {add, mul}
  std::vector<Tensor> in = {RandomTensor(Shape{4, 3}, 1)};
  ExpectAllNear(RunGraph(g, in, {}, 4), RunGraph(before, in, {}, 4), 0.0);
}

TEST(FusionTest, DifferentShapesAreNotFused) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{4, 1});
  ValueId y = b.Input(1, DType::kFloat32, Shape{4, 3});
  g.AddOutput(b.Add(b.Exp(x), y));  // exp is (4, 1), add is (4, 3)
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(FusionPass().Run(&g).value());
}

TEST(FusionTest, NeverMovesAVariableReadPastItsAssign) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{3});
  ValueId v = b.Variable(0, DType::kFloat32, Shape{3});
  ValueId old_twice = b.Mul(v, b.Scalar(2.0));
  b.Assign(0, x);
  g.AddOutput(b.Add(old_twice, b.Scalar(1.0)));
  ASSERT_TRUE(b.ok()) << b.status();
  Graph before = g;
  EXPECT_FALSE(FusionPass().Run(&g).value()) << g.ToString();
  std::vector<Tensor> in = {RandomTensor(Shape{3}, 1)};
  std::vector<Tensor> vars = {RandomTensor(Shape{3}, 2)};
  ExpectAllNear(RunGraph(g, in, vars, 1), RunGraph(before, in, vars, 1), 0.0);
}

// Adam's update for one variable: three fused nodes (m, v, variable).
TEST(FusionTest, AdamUpdateMatchesUnfused) {
  Graph g;
  Builder b(&g);
  ValueId grad = b.Input(0, DType::kFloat32, Shape{50, 30});
  ValueId var = b.Variable(0, DType::kFloat32, Shape{50, 30});
  ValueId m = b.Variable(1, DType::kFloat32, Shape{50, 30});
  ValueId v = b.Variable(2, DType::kFloat32, Shape{50, 30});
  ValueId lr = b.Input(1, DType::kFloat32, Shape{});
  ValueId m_new = b.Add(b.Mul(m, b.Scalar(0.9)), b.Mul(grad, b.Scalar(0.1)));
  ValueId v_new = b.Add(b.Mul(v, b.Scalar(0.999)), b.Mul(b.Square(grad), b.Scalar(0.001)));
  ValueId step = b.Div(b.Mul(m_new, lr), b.Add(b.Sqrt(v_new), b.Scalar(1e-7)));
  ValueId var_new = b.Sub(var, step);
  b.Assign(0, var_new);
  b.Assign(1, m_new);
  b.Assign(2, v_new);
  ASSERT_TRUE(b.ok()) << b.status();
  Graph before = g;
  ASSERT_TRUE(FusionPass().Run(&g).value());
  EXPECT_EQ(CountOp(g, Op::kFusedElementwise), 3) << g.ToString();
  std::vector<Tensor> in = {RandomTensor(Shape{50, 30}, 1), Tensor::Scalar(0.01f)};
  std::vector<Tensor> vars = {RandomTensor(Shape{50, 30}, 2), RandomTensor(Shape{50, 30}, 3),
                              RandomTensor(Shape{50, 30}, 4)};
  for (int64_t i = 0; i < 1500; ++i) vars[2].data<float>()[i] = std::fabs(vars[2].data<float>()[i]);
  ExpectAllNear(RunGraph(g, in, vars, 1), RunGraph(before, in, vars, 1), 1e-6);
}

}  // namespace
}  // namespace fornax
