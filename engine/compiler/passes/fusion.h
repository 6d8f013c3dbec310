// FusionPass: elementwise fusion.
//
// Afterwards every group of two or more connected elementwise nodes (the ops
// IsElementwiseOp accepts, on float32/bool values) that have the same
// output shape, where each non-final member is read only inside the group,
// has become one FusedElementwise node at the group's last node. Its inputs
// are the group's outside values (which may broadcast: bias rows, scalars,
// per-row columns) and its attrs.program evaluates the group; scalar
// constants are folded into the program. A member that reads a Variable is
// never moved past an Assign to that variable. Single elementwise nodes stay
// as they are (backends have kernels for them).
#ifndef FORNAX_ENGINE_COMPILER_PASSES_FUSION_H_
#define FORNAX_ENGINE_COMPILER_PASSES_FUSION_H_

#include "engine/compiler/pass.h"

namespace fornax {

class FusionPass final : public Pass {
 public:
  std::string_view name() const override { return "fusion"; }
  absl::StatusOr<bool> Run(Graph* graph) override;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_PASSES_FUSION_H_
