// Op classes: named sets of ops that passes and backends ask about instead of
// listing ops themselves (tinygrad's Unary/Binary/Elementwise groups). A new
// op joins a class here, once, and every user of the class sees it.
#ifndef FORNAX_ENGINE_IR_OP_CLASSES_H_
#define FORNAX_ENGINE_IR_OP_CLASSES_H_

#include "engine/ir/graph.h"

namespace fornax {

// Float -> float unary math (neg, exp, log, ..., floor).
bool IsUnaryMathOp(Op op);
// Float binary arithmetic with broadcasting (add, sub, mul, div, maximum,
// minimum, pow).
bool IsBinaryArithmeticOp(Op op);
// Comparisons: two operands, bool result.
bool IsCompareOp(Op op);
// Every elementwise op: unary math, arithmetic, comparisons, logic,
// is_finite, cast and where.
bool IsElementwiseOp(Op op);

}  // namespace fornax

#endif  // FORNAX_ENGINE_IR_OP_CLASSES_H_
