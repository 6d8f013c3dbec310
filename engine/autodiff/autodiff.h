// Reverse-mode automatic differentiation on the IR.
//
// Gradients appends the backward graph to the graph `b` builds on: it walks
// back from `y` over the nodes y depends on, calls each op's gradient rule
// (engine/ir/op_def.h), sums gradients where a value fans out, and sums them
// over broadcast dimensions back to each input's shape. There is no per-op
// code here; every op's knowledge lives in its OpDef.
// Thread-safety: none (it emits through `b`).
#ifndef FORNAX_ENGINE_AUTODIFF_AUTODIFF_H_
#define FORNAX_ENGINE_AUTODIFF_AUTODIFF_H_

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"

namespace fornax {

// Returns dy/dx for each x in `wrt`, each with x's dtype and shape. `y` must be
// floating; it is seeded with ones of its shape (usually y is a scalar loss,
// so this is the plain gradient; otherwise it is the gradient of sum(y)).
// A value y does not depend on (or only through non-differentiable ops) gets
// a zeros value of its dtype and shape, never kNoValue, so optimizers can
// treat every variable alike.
// Errors: InvalidArgument for a bad `y`/`wrt`, or the builder's error (which
// stays recorded in `b`) if a gradient rule fails.
absl::StatusOr<std::vector<ValueId>> Gradients(Builder& b, ValueId y, std::span<const ValueId> wrt);

}  // namespace fornax

#endif  // FORNAX_ENGINE_AUTODIFF_AUTODIFF_H_
