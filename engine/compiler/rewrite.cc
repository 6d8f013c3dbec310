#include "engine/compiler/rewrite.h"

#include "engine/base/check.h"

namespace fornax {

std::vector<int> UseCounts(const Graph& graph) {
  std::vector<int> counts(static_cast<size_t>(graph.size()), 0);
  for (const Node& node : graph.nodes()) {
    for (ValueId in : node.inputs) ++counts[static_cast<size_t>(in)];
  }
  for (ValueId out : graph.outputs()) ++counts[static_cast<size_t>(out)];
  return counts;
}

std::vector<std::vector<ValueId>> Consumers(const Graph& graph) {
  std::vector<std::vector<ValueId>> consumers(static_cast<size_t>(graph.size()));
  for (ValueId v = 0; v < graph.size(); ++v) {
    for (ValueId in : graph.node(v).inputs) consumers[static_cast<size_t>(in)].push_back(v);
  }
  return consumers;
}

RemapBuilder::RemapBuilder(const Graph& old)
    : old_(old), map_(static_cast<size_t>(old.size()), kNoValue) {}

ValueId RemapBuilder::Keep(ValueId old_id) {
  Node node = old_.node(old_id);
  for (ValueId& in : node.inputs) {
    in = Map(in);
    FORNAX_CHECK(in != kNoValue);
  }
  const ValueId id = graph_.Append(std::move(node));
  map_[static_cast<size_t>(old_id)] = id;
  return id;
}

ValueId RemapBuilder::Append(Node node) { return graph_.Append(std::move(node)); }

void RemapBuilder::Replace(ValueId old_id, ValueId new_id) {
  FORNAX_CHECK(new_id >= 0 && new_id < graph_.size());
  const Node& was = old_.node(old_id);
  const Node& now = graph_.node(new_id);
  FORNAX_CHECK(was.dtype == now.dtype && was.shape == now.shape);
  map_[static_cast<size_t>(old_id)] = new_id;
}

std::vector<ValueId> RemapBuilder::MapAll(std::span<const ValueId> old_ids) const {
  std::vector<ValueId> ids;
  ids.reserve(old_ids.size());
  for (ValueId old_id : old_ids) {
    ids.push_back(Map(old_id));
    FORNAX_CHECK(ids.back() != kNoValue);
  }
  return ids;
}

Graph RemapBuilder::Finish() && {
  graph_.set_outputs(MapAll(old_.outputs()));
  return std::move(graph_);
}

Graph Compact(const Graph& graph, const std::vector<bool>& keep) {
  RemapBuilder rb(graph);
  for (ValueId v = 0; v < graph.size(); ++v) {
    if (keep[static_cast<size_t>(v)]) rb.Keep(v);
  }
  return std::move(rb).Finish();
}

Graph Substitute(const Graph& graph, const std::vector<ValueId>& replacement) {
  RemapBuilder rb(graph);
  for (ValueId v = 0; v < graph.size(); ++v) {
    const ValueId target = replacement[static_cast<size_t>(v)];
    if (target == v) {
      rb.Keep(v);
    } else {
      FORNAX_CHECK(target < v);
      rb.Replace(v, rb.Map(target));
    }
  }
  return std::move(rb).Finish();
}

}  // namespace fornax
