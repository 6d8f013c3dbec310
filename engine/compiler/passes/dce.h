// DcePass: dead-code elimination.
//
// Removes every node whose value cannot reach a root. Roots are the graph
// outputs and every Assign (variable updates are side effects). Afterwards
// every node is a root or an input of a live node. Keeps order; remaps ids.
#ifndef FORNAX_ENGINE_COMPILER_PASSES_DCE_H_
#define FORNAX_ENGINE_COMPILER_PASSES_DCE_H_

#include "engine/compiler/pass.h"

namespace fornax {

class DcePass final : public Pass {
 public:
  std::string_view name() const override { return "dce"; }
  absl::StatusOr<bool> Run(Graph* graph) override;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_PASSES_DCE_H_
