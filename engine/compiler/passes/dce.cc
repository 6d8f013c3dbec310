#include "engine/compiler/passes/dce.h"

#include <vector>

#include "engine/compiler/rewrite.h"

namespace fornax {

absl::StatusOr<bool> DcePass::Run(Graph* graph) {
  std::vector<bool> live(static_cast<size_t>(graph->size()), false);
  for (ValueId out : graph->outputs()) live[static_cast<size_t>(out)] = true;
  // Inputs come before their readers, so one backward sweep marks everything.
  bool all_live = true;
  for (ValueId v = graph->size() - 1; v >= 0; --v) {
    const Node& node = graph->node(v);
    if (node.op == Op::kAssign) live[static_cast<size_t>(v)] = true;
    if (!live[static_cast<size_t>(v)]) {
      all_live = false;
      continue;
    }
    for (ValueId in : node.inputs) live[static_cast<size_t>(in)] = true;
  }
  if (all_live) return false;
  *graph = Compact(*graph, live);
  return true;
}

}  // namespace fornax
