#include "engine/ir/op_def.h"

#include <gtest/gtest.h>

namespace fornax {
namespace {

TEST(OpDefTest, EveryOpInOpsDefHasAShapeRule) {
  for (int i = 0; i < kNumOps; ++i) {
    Op op = static_cast<Op>(i);
    const OpDef& def = GetOpDef(op);
    EXPECT_EQ(def.op, op) << OpName(op);
    EXPECT_NE(def.infer, nullptr) << "op '" << OpName(op) << "' has no OpDef";
  }
}

TEST(OpDefTest, NonDifferentiableOpsHaveNoGradient) {
  for (Op op : {Op::kGreater, Op::kEqual, Op::kLogicalAnd, Op::kLogicalNot, Op::kArgMax,
                Op::kIsFinite, Op::kFloor, Op::kOneHot, Op::kAssign, Op::kFusedMatMul}) {
    EXPECT_EQ(GetOpDef(op).grad, nullptr) << OpName(op);
  }
  for (Op op : {Op::kAdd, Op::kMatMul, Op::kConv2D, Op::kReduceMax, Op::kGather, Op::kCast}) {
    EXPECT_NE(GetOpDef(op).grad, nullptr) << OpName(op);
  }
}

}  // namespace
}  // namespace fornax
