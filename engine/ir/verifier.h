// VerifyGraph: checks the structural invariants every pass must keep.
//
//   - inputs refer to earlier nodes (index order is a topological order);
//   - each op has its declared number of inputs (Concat at least one);
//   - re-running the op's shape rule reproduces the node's dtype and shape
//     (fused nodes are skipped: the passes that make them set both);
//   - Assign targets a sane variable slot: index >= 0, and dtype/shape equal
//     to any Variable node with that index;
//   - no value of Variable #k is read after a later Assign to #k has run
//     (Executable's ordering contract).
// Violations are compiler bugs, so they come back as Internal errors that
// name the node: "verifier: %7 (add): ...". Thread-safety: pure function.
#ifndef FORNAX_ENGINE_IR_VERIFIER_H_
#define FORNAX_ENGINE_IR_VERIFIER_H_

#include "absl/status/status.h"
#include "engine/ir/graph.h"

namespace fornax {

absl::Status VerifyGraph(const Graph& graph);

}  // namespace fornax

#endif  // FORNAX_ENGINE_IR_VERIFIER_H_
