#include "engine/compiler/passes/fusion_util.h"

#include <algorithm>

namespace fornax {

AssignIndex::AssignIndex(const Graph& graph) {
  for (ValueId v = 0; v < graph.size(); ++v) {
    const Node& node = graph.node(v);
    if (node.op != Op::kAssign) continue;
    const size_t k = static_cast<size_t>(node.attrs.index);
    if (assigns_.size() <= k) assigns_.resize(k + 1);
    assigns_[k].push_back(v);
  }
}

bool AssignIndex::ReadWouldCrossAssign(const Graph& graph, ValueId node, ValueId to) const {
  for (ValueId in : graph.node(node).inputs) {
    const Node& producer = graph.node(in);
    if (producer.op != Op::kVariable) continue;
    const size_t k = static_cast<size_t>(producer.attrs.index);
    if (k >= assigns_.size()) continue;
    const auto& at = assigns_[k];
    auto it = std::upper_bound(at.begin(), at.end(), node);
    if (it != at.end() && *it < to) return true;
  }
  return false;
}

bool IsScalarConstant(const Graph& graph, ValueId v, float* scalar) {
  const Node* node = &graph.node(v);
  if (node->op == Op::kBroadcastTo) node = &graph.node(node->inputs[0]);
  if (node->op != Op::kConstant || !node->attrs.value.defined()) return false;
  const Tensor& t = node->attrs.value;
  if (t.num_elements() != 1) return false;
  if (t.dtype() != DType::kFloat32 && t.dtype() != DType::kBool) return false;
  if (scalar != nullptr) *scalar = static_cast<float>(t.GetAsDouble(0));
  return true;
}

}  // namespace fornax
