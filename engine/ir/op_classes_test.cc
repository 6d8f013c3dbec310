#include "engine/ir/op_classes.h"

#include "gtest/gtest.h"

namespace fornax {
namespace {

// Each class agrees with ops.def's arity, and the classes do not overlap: a
// misfiled op would send a binary op down a unary kernel path, or let the
// memory planner run a non-elementwise op in place.
TEST(OpClassesTest, ClassesMatchArityAndAreDisjoint) {
  for (int i = 0; i < kNumOps; ++i) {
    const Op op = static_cast<Op>(i);
    const int classes = IsUnaryMathOp(op) + IsBinaryArithmeticOp(op) + IsCompareOp(op);
    EXPECT_LE(classes, 1) << OpName(op);
    if (IsUnaryMathOp(op)) {
      EXPECT_EQ(OpArity(op), 1) << OpName(op);
    }
    if (IsBinaryArithmeticOp(op) || IsCompareOp(op)) {
      EXPECT_EQ(OpArity(op), 2) << OpName(op);
    }
    if (classes == 1) {
      EXPECT_TRUE(IsElementwiseOp(op)) << OpName(op);
    }
  }
}

TEST(OpClassesTest, ElementwiseExcludesStructuralOps) {
  for (Op op : {Op::kMatMul, Op::kConv2D, Op::kReduceSum, Op::kReshape, Op::kAssign,
                Op::kFusedElementwise, Op::kRandomUniform, Op::kVariable}) {
    EXPECT_FALSE(IsElementwiseOp(op)) << OpName(op);
  }
  EXPECT_TRUE(IsElementwiseOp(Op::kWhere));
  EXPECT_TRUE(IsElementwiseOp(Op::kCast));
}

}  // namespace
}  // namespace fornax
