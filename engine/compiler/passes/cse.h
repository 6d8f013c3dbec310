// CsePass: hash-based common-subexpression elimination.
//
// Afterwards no two nodes compute the same value: nodes with equal op, dtype,
// shape, inputs (after earlier merges) and attributes are merged into the
// first one, and readers of the later copies read the first. Input, Variable
// and Assign nodes are never merged (they stand for storage and side
// effects); RandomUniform nodes merge only with the same stream id and shape,
// which draw identical numbers. Constants merge when bitwise equal.
#ifndef FORNAX_ENGINE_COMPILER_PASSES_CSE_H_
#define FORNAX_ENGINE_COMPILER_PASSES_CSE_H_

#include "engine/compiler/pass.h"

namespace fornax {

class CsePass final : public Pass {
 public:
  std::string_view name() const override { return "cse"; }
  absl::StatusOr<bool> Run(Graph* graph) override;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_PASSES_CSE_H_
