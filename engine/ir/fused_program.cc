#include "engine/ir/fused_program.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"

namespace fornax {

float ApplyScalarOp(Op op, float a, float b, float c, DType cast_to) {
  switch (op) {
    case Op::kNeg:
      return -a;
    case Op::kExp:
      return std::exp(a);
    case Op::kLog:
      return std::log(a);
    case Op::kLog1p:
      return std::log1p(a);
    case Op::kSqrt:
      return std::sqrt(a);
    case Op::kRsqrt:
      return 1.0f / std::sqrt(a);
    case Op::kTanh:
      return std::tanh(a);
    case Op::kSigmoid:
      return 1.0f / (1.0f + std::exp(-a));
    case Op::kRelu:
      return a < 0.0f ? 0.0f : a;
    case Op::kAbs:
      return std::fabs(a);
    case Op::kSign:
      return static_cast<float>((a > 0.0f) - (a < 0.0f));  // NaN and -0 give 0
    case Op::kErf:
      return std::erf(a);
    case Op::kFloor:
      return std::floor(a);
    case Op::kLogicalNot:
      return a != 0.0f ? 0.0f : 1.0f;
    case Op::kIsFinite:
      return std::isfinite(a) ? 1.0f : 0.0f;
    case Op::kCast:
      return cast_to == DType::kBool ? (a != 0.0f ? 1.0f : 0.0f) : a;
    case Op::kAdd:
      return a + b;
    case Op::kSub:
      return a - b;
    case Op::kMul:
      return a * b;
    case Op::kDiv:
      return a / b;
    case Op::kMaximum:
      return a < b ? b : a;
    case Op::kMinimum:
      return b < a ? b : a;
    case Op::kPow:
      return std::pow(a, b);
    case Op::kGreater:
      return a > b ? 1.0f : 0.0f;
    case Op::kGreaterEqual:
      return a >= b ? 1.0f : 0.0f;
    case Op::kLess:
      return a < b ? 1.0f : 0.0f;
    case Op::kLessEqual:
      return a <= b ? 1.0f : 0.0f;
    case Op::kEqual:
      return a == b ? 1.0f : 0.0f;
    case Op::kNotEqual:
      return a != b ? 1.0f : 0.0f;
    case Op::kLogicalAnd:
      return (a != 0.0f && b != 0.0f) ? 1.0f : 0.0f;
    case Op::kLogicalOr:
      return (a != 0.0f || b != 0.0f) ? 1.0f : 0.0f;
    case Op::kWhere:
      return a != 0.0f ? b : c;
    default:
      FORNAX_CHECK(false && "ApplyScalarOp: not an elementwise op");
      return 0.0f;
  }
}

float FusedProgram::EvalScalar(std::span<const float> inputs) const {
  FORNAX_CHECK(static_cast<int>(inputs.size()) == num_inputs && !instrs.empty());
  std::vector<float> regs(static_cast<size_t>(num_registers()));
  for (int i = 0; i < num_inputs; ++i)
    regs[static_cast<size_t>(i)] = inputs[static_cast<size_t>(i)];
  for (size_t i = 0; i < constants.size(); ++i)
    regs[static_cast<size_t>(first_constant()) + i] = constants[i];
  size_t r = static_cast<size_t>(first_result());
  for (const Instr& in : instrs) {
    auto arg = [&](int k) {
      return in.args[static_cast<size_t>(k)] < 0
                 ? 0.0f
                 : regs[static_cast<size_t>(in.args[static_cast<size_t>(k)])];
    };
    regs[r++] = ApplyScalarOp(in.op, arg(0), arg(1), arg(2), in.cast_to);
  }
  return regs.back();
}

std::string FusedProgram::ToString() const {
  std::string out;
  for (int i = 0; i < num_inputs; ++i) absl::StrAppend(&out, i ? " " : "", "in", i);
  absl::StrAppend(&out, " |");
  for (size_t i = 0; i < constants.size(); ++i) {
    absl::StrAppend(&out, " r", first_constant() + static_cast<int>(i), "=", constants[i]);
  }
  absl::StrAppend(&out, " |");
  int r = first_result();
  for (const Instr& in : instrs) {
    absl::StrAppend(&out, " r", r++, "=", std::string(OpName(in.op)), "(");
    for (int k = 0; k < 3 && in.args[static_cast<size_t>(k)] >= 0; ++k) {
      absl::StrAppend(&out, k ? "," : "", "r", in.args[static_cast<size_t>(k)]);
    }
    absl::StrAppend(&out, ")");
  }
  return out;
}

}  // namespace fornax
