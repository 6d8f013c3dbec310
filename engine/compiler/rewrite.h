// Graph rewriting helpers for passes: delete, replace and insert nodes while
// keeping the topological order and remapping ValueIds and graph outputs.
//
// Graphs are append-only SSA, so a rewrite builds a new graph. RemapBuilder is
// the general tool: walk the old graph in order and, for each old node, either
// Keep it (copied with remapped inputs), Replace it by a value already in the
// new graph, or Append new nodes (e.g. a fused node) and Replace the old
// nodes they stand for. Compact and Substitute are the two common cases.
//
//   // Fusion: replace the chain %3 -> %4 -> %5 by one node.
//   RemapBuilder rb(old);
//   for (ValueId v = 0; v < old.size(); ++v) {
//     if (v == 5) {
//       Node fused = ...;  fused.inputs = rb.MapAll(external_inputs);
//       rb.Replace(5, rb.Append(std::move(fused)));
//     } else if (v != 3 && v != 4) {
//       rb.Keep(v);
//     }
//   }
//   *graph = std::move(rb).Finish();
//
// Nodes that are neither kept nor replaced are dropped; using one afterwards
// (as an input of a kept node or as a graph output) is a bug and fails a CHECK.
// Thread-safety: none.
#ifndef FORNAX_ENGINE_COMPILER_REWRITE_H_
#define FORNAX_ENGINE_COMPILER_REWRITE_H_

#include <span>
#include <vector>

#include "engine/ir/graph.h"

namespace fornax {

// Number of uses of each value: one per input slot that reads it plus one per
// graph-output entry.
std::vector<int> UseCounts(const Graph& graph);

// The nodes that read each value, in topological order (a node reading a
// value twice appears twice).
std::vector<std::vector<ValueId>> Consumers(const Graph& graph);

class RemapBuilder {
 public:
  explicit RemapBuilder(const Graph& old);
  RemapBuilder(const RemapBuilder&) = delete;
  RemapBuilder& operator=(const RemapBuilder&) = delete;

  // Copies old node `old_id` into the new graph with its inputs remapped and
  // maps `old_id` to the copy. REQUIRES: its inputs are mapped.
  ValueId Keep(ValueId old_id);
  // Appends `node`, whose inputs are already NEW ids; returns its new id.
  ValueId Append(Node node);
  // Maps old value `old_id` to new value `new_id`: later Keeps and the
  // outputs read `new_id` instead. REQUIRES: same dtype and shape.
  void Replace(ValueId old_id, ValueId new_id);
  // The new id of an old value, or kNoValue when it was dropped or not yet
  // visited.
  ValueId Map(ValueId old_id) const { return map_[static_cast<size_t>(old_id)]; }
  // Map over several old ids. REQUIRES: all mapped.
  std::vector<ValueId> MapAll(std::span<const ValueId> old_ids) const;
  // The new graph so far (read-only, e.g. to look up a new node).
  const Graph& graph() const { return graph_; }
  // The new graph, with the old graph's outputs remapped. REQUIRES: every
  // old output is mapped.
  Graph Finish() &&;

 private:
  const Graph& old_;
  Graph graph_;
  std::vector<ValueId> map_;
};

// The graph without the nodes where keep[v] is false. REQUIRES: the inputs
// of kept nodes and the outputs are kept.
Graph Compact(const Graph& graph, const std::vector<bool>& keep);

// Replaces each value v with replacement[v] != v by value replacement[v]
// (an earlier value with the same dtype and shape, e.g. CSE's first copy) and
// drops v. replacement[v] == v keeps v. Chains resolve (a->b->c reads c).
Graph Substitute(const Graph& graph, const std::vector<ValueId>& replacement);

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_REWRITE_H_
