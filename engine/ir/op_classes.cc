#include "engine/ir/op_classes.h"

namespace fornax {

bool IsUnaryMathOp(Op op) {
  switch (op) {
    case Op::kNeg:
    case Op::kExp:
    case Op::kLog:
    case Op::kLog1p:
    case Op::kSqrt:
    case Op::kRsqrt:
    case Op::kTanh:
    case Op::kSigmoid:
    case Op::kRelu:
    case Op::kAbs:
    case Op::kSign:
    case Op::kErf:
    case Op::kFloor:
      return true;
    default:
      return false;
  }
}

bool IsBinaryArithmeticOp(Op op) {
  switch (op) {
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kMaximum:
    case Op::kMinimum:
    case Op::kPow:
      return true;
    default:
      return false;
  }
}

bool IsCompareOp(Op op) {
  switch (op) {
    case Op::kGreater:
    case Op::kGreaterEqual:
    case Op::kLess:
    case Op::kLessEqual:
    case Op::kEqual:
    case Op::kNotEqual:
      return true;
    default:
      return false;
  }
}

bool IsElementwiseOp(Op op) {
  switch (op) {
    case Op::kLogicalNot:
    case Op::kIsFinite:
    case Op::kCast:
    case Op::kLogicalAnd:
    case Op::kLogicalOr:
    case Op::kWhere:
      return true;
    default:
      return IsUnaryMathOp(op) || IsBinaryArithmeticOp(op) || IsCompareOp(op);
  }
}

}  // namespace fornax
