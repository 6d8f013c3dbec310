// Helpers shared by the fusion passes (internal to engine/compiler/passes).
#ifndef FORNAX_ENGINE_COMPILER_PASSES_FUSION_UTIL_H_
#define FORNAX_ENGINE_COMPILER_PASSES_FUSION_UTIL_H_

#include <vector>

#include "engine/ir/graph.h"

namespace fornax {

// Where each variable is assigned: assigns[k] lists the positions of the
// Assign nodes to variable #k, ascending.
class AssignIndex {
 public:
  explicit AssignIndex(const Graph& graph);
  // True when moving node `node`'s reads of Variable inputs from position
  // `node` to the later position `to` would skip past an Assign to one of
  // them (the read would then see the new value).
  bool ReadWouldCrossAssign(const Graph& graph, ValueId node, ValueId to) const;

 private:
  std::vector<std::vector<ValueId>> assigns_;
};

// True for a Constant of one element equal to `value`, or such a constant
// broadcast (BroadcastTo); sets *scalar to the element when non-null.
bool IsScalarConstant(const Graph& graph, ValueId v, float* scalar = nullptr);

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_PASSES_FUSION_UTIL_H_
