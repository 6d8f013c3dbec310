// Memory planning: puts every intermediate value at an offset in one arena,
// sized for `max_batch` (tinygrad's memory planner, ggml-alloc's reuse).
//
// Homes: Input, Variable and Constant values live outside the arena (the
// caller's tensors, the variables in place, attrs.value). Reshape and Assign
// are aliases of their input (no copy). Every other value gets an arena
// block. Liveness is computed per storage root (a value and its aliases) in
// topological order: a block is taken when its root is defined and freed
// after its last use; graph outputs stay live to the end. Blocks are placed
// best-fit into the gaps between live blocks, 64-byte aligned. With
// `in_place`, an elementwise op whose same-shape, same-dtype input dies at
// that op writes over the input's block (kernels for those ops must tolerate
// out == in: position i of the output depends only on position i of inputs).
// With `updates_in_variables`, optimizer updates are written in place (see
// MemoryPlanOptions).
// Thread-safety: pure functions.
#ifndef FORNAX_ENGINE_COMPILER_PASSES_MEMORY_PLAN_H_
#define FORNAX_ENGINE_COMPILER_PASSES_MEMORY_PLAN_H_

#include <cstdint>
#include <vector>

#include "engine/ir/graph.h"
#include "engine/runtime/executable.h"

namespace fornax {

inline constexpr size_t kArenaAlignment = 64;

struct MemoryPlanOptions {
  bool in_place = true;
  // Compute a value that feeds the only Assign to variable #k directly into
  // #k's storage (no copy at the Assign) when every other reader of #k's old
  // value runs earlier.
  bool updates_in_variables = true;
};

// Where each value's storage comes from and how long that storage lives.
struct Liveness {
  std::vector<ValueId> root;  // the value owning v's storage (v itself unless aliased)
  std::vector<int> last_use;  // per root: last node reading it or an alias; size() for outputs
};

// The home of each value (kArena, kInput, kVariable, kConstant or kAlias),
// with offsets unset.
std::vector<MemoryPlan::Slot> AssignHomes(const Graph& graph);
Liveness ComputeLiveness(const Graph& graph, const std::vector<MemoryPlan::Slot>& homes);

// True for the ops that may write over an input (see in_place above).
bool CanRunInPlace(Op op);

MemoryPlan PlanMemory(const Graph& graph, int64_t max_batch, MemoryPlanOptions options = {});

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_PASSES_MEMORY_PLAN_H_
