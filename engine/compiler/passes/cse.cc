#include "engine/compiler/passes/cse.h"

#include <cstring>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "engine/compiler/rewrite.h"

namespace fornax {
namespace {

bool TensorsEqual(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  return a.BitwiseEquals(b);
}

bool AttrsEqual(const Attrs& a, const Attrs& b) {
  return a.index == b.index && a.axis == b.axis && a.begin == b.begin && a.end == b.end &&
         a.depth == b.depth && a.axes == b.axes && a.keepdims == b.keepdims &&
         a.transpose_a == b.transpose_a && a.transpose_b == b.transpose_b && a.shape == b.shape &&
         a.window == b.window && a.strides == b.strides && a.dilation == b.dilation &&
         a.padding == b.padding && a.dtype == b.dtype && a.epilogue == b.epilogue &&
         a.has_bias == b.has_bias && a.program == b.program && TensorsEqual(a.value, b.value);
}

size_t HashNode(const Node& node) {
  const Attrs& a = node.attrs;
  size_t h = absl::HashOf(static_cast<int>(node.op), static_cast<int>(node.dtype), node.shape,
                          node.inputs, a.index, a.axis, a.begin, a.end, a.axes, a.transpose_a,
                          a.transpose_b, a.shape, a.strides, a.window);
  if (a.value.defined()) {
    h = absl::HashOf(
        h, a.value.shape(),
        std::string_view(static_cast<const char*>(a.value.raw_data()), a.value.byte_size()));
  }
  return h;
}

bool Mergeable(Op op) { return op != Op::kInput && op != Op::kVariable && op != Op::kAssign; }

}  // namespace

absl::StatusOr<bool> CsePass::Run(Graph* graph) {
  const Graph& g = *graph;
  std::vector<ValueId> replacement(static_cast<size_t>(g.size()));
  // Hash of a node (inputs already replaced) -> earlier nodes with that hash.
  absl::flat_hash_map<size_t, std::vector<ValueId>> seen;
  std::vector<Node> canonical(static_cast<size_t>(g.size()));  // node with replaced inputs
  bool changed = false;
  for (ValueId v = 0; v < g.size(); ++v) {
    replacement[static_cast<size_t>(v)] = v;
    if (!Mergeable(g.node(v).op)) continue;
    Node& node = canonical[static_cast<size_t>(v)];
    node = g.node(v);
    node.name.clear();
    for (ValueId& in : node.inputs) in = replacement[static_cast<size_t>(in)];
    std::vector<ValueId>& bucket = seen[HashNode(node)];
    for (ValueId earlier : bucket) {
      const Node& other = canonical[static_cast<size_t>(earlier)];
      if (other.op == node.op && other.dtype == node.dtype && other.shape == node.shape &&
          other.inputs == node.inputs && AttrsEqual(other.attrs, node.attrs)) {
        replacement[static_cast<size_t>(v)] = earlier;
        changed = true;
        break;
      }
    }
    if (replacement[static_cast<size_t>(v)] == v) bucket.push_back(v);
  }
  if (!changed) return false;
  *graph = Substitute(g, replacement);
  return true;
}

}  // namespace fornax
