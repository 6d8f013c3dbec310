// Pass: one graph-to-graph rewrite of the compiler pipeline (XLA's
// HloPassInterface, tinygrad's rewrite rules).
//
// Invariant every pass keeps: the graph it leaves is valid IR with the same
// meaning: nodes in topological order (inputs refer to earlier nodes), every
// node's dtype and shape correct, graph outputs computing the same values,
// every Assign kept and, for each variable, every reader of Variable #k still
// running before any Assign to #k. Use engine/compiler/rewrite.h to delete or
// replace nodes; it keeps order and remaps ids and outputs.
// Thread-safety: a pass object is used by one thread at a time.
#ifndef FORNAX_ENGINE_COMPILER_PASS_H_
#define FORNAX_ENGINE_COMPILER_PASS_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/ir/graph.h"

namespace fornax {

class Pass {
 public:
  virtual ~Pass() = default;
  // Short lowercase name used to disable the pass and in IR dumps ("dce").
  virtual std::string_view name() const = 0;
  // Rewrites `graph` in place. Returns true when it changed anything; an error
  // only for graphs the pass cannot handle (never for ordinary input).
  virtual absl::StatusOr<bool> Run(Graph* graph) = 0;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_PASS_H_
