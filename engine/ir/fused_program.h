// FusedProgram: a tiny register-based elementwise program, the payload of a
// FusedElementwise node (attrs.program), made by the fusion pass.
//
// Registers are numbered: [0, num_inputs) are the node's inputs (already
// broadcast to the node's shape by whoever evaluates the program), then the
// scalar constants, then one register per instruction, in order. The last
// instruction's register is the result. Every value is a float: bool values
// are 0.0f / 1.0f inside a program, comparisons produce 0/1 and Where tests
// "!= 0". An evaluator converts bool inputs to 0/1 on load and a bool result
// to (v != 0) on store.
//
// ApplyScalarOp is the single definition of each op's float semantics; the
// reference evaluation (EvalScalar) and the CPU backend's vectorized
// evaluator both follow it, so fused and unfused graphs agree.
// Thread-safety: immutable after construction; share through shared_ptr.
#ifndef FORNAX_ENGINE_IR_FUSED_PROGRAM_H_
#define FORNAX_ENGINE_IR_FUSED_PROGRAM_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/ir/graph.h"

namespace fornax {

struct FusedProgram {
  struct Instr {
    Op op;
    std::array<int32_t, 3> args{-1, -1, -1};  // registers; unused ones are -1
    DType cast_to = DType::kFloat32;          // kCast only: kFloat32 or kBool
  };

  int num_inputs = 0;
  std::vector<float> constants;
  std::vector<Instr> instrs;

  int first_constant() const { return num_inputs; }
  int first_result() const { return num_inputs + static_cast<int>(constants.size()); }
  int num_registers() const { return first_result() + static_cast<int>(instrs.size()); }

  // Evaluates the program for one element; `inputs` has num_inputs values.
  // REQUIRES: instrs is not empty.
  float EvalScalar(std::span<const float> inputs) const;

  // "in0 in1 | c0=0.5 | r3=mul(in0,c0) r4=add(r3,in1)", for IR dumps.
  std::string ToString() const;
};

// The float semantics of one elementwise op (unused operands are ignored).
float ApplyScalarOp(Op op, float a, float b = 0.0f, float c = 0.0f,
                    DType cast_to = DType::kFloat32);

}  // namespace fornax

#endif  // FORNAX_ENGINE_IR_FUSED_PROGRAM_H_
