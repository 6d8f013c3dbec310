// The IR verifier (see verifier.h).
#include "engine/ir/verifier.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/ir/op_def.h"

namespace fornax {
namespace {

bool IsFused(Op op) {
  return op == Op::kFusedElementwise || op == Op::kFusedMatMul || op == Op::kFusedConv2D;
}

template <typename... Args>
absl::Status NodeError(const Graph& g, ValueId i, const Args&... args) {
  return absl::InternalError(
      absl::StrCat("verifier: %", i, " (", std::string(OpName(g.node(i).op)), "): ", args...));
}

std::string TypeOf(const Node& n) {
  return absl::StrCat(std::string(DTypeName(n.dtype)), n.shape.ToString());
}

absl::Status VerifyNode(const Graph& g, ValueId i) {
  const Node& node = g.node(i);
  for (ValueId in : node.inputs) {
    if (in < 0 || in >= i) return NodeError(g, i, "input %", in, " is not an earlier node");
  }
  int arity = OpArity(node.op);
  int got = static_cast<int>(node.inputs.size());
  if ((arity >= 0 && got != arity) || (node.op == Op::kConcat && got == 0)) {
    return NodeError(g, i, "expected ", arity < 0 ? "at least 1" : absl::StrCat(arity),
                     " inputs, got ", got);
  }
  const OpDef& def = GetOpDef(node.op);
  if (def.infer == nullptr) return NodeError(g, i, "op has no shape rule");
  if (IsFused(node.op)) return absl::OkStatus();
  Node copy = node;
  if (absl::Status s = def.infer(g, &copy); !s.ok()) return NodeError(g, i, s.message());
  if (copy.dtype != node.dtype || copy.shape != node.shape) {
    return NodeError(g, i, "node says ", TypeOf(node), " but its shape rule gives ", TypeOf(copy));
  }
  return absl::OkStatus();
}

// Assign slots match their variables, and no Variable value is read after
// an Assign to its slot that comes later than the read value was emitted.
absl::Status VerifyVariables(const Graph& g) {
  absl::flat_hash_map<int64_t, ValueId> variable_of;  // slot -> a Variable node
  for (ValueId i = 0; i < g.size(); ++i) {
    const Node& n = g.node(i);
    if (n.op == Op::kVariable) variable_of.try_emplace(n.attrs.index, i);
  }
  // For each Variable node, the first Assign to its slot after it.
  std::vector<ValueId> overwritten_at(static_cast<size_t>(g.size()), g.size());
  absl::flat_hash_map<int64_t, std::vector<ValueId>> pending;  // slot -> Variable nodes
  for (ValueId i = 0; i < g.size(); ++i) {
    const Node& n = g.node(i);
    if (n.op == Op::kVariable) pending[n.attrs.index].push_back(i);
    if (n.op != Op::kAssign) continue;
    if (n.attrs.index < 0) return NodeError(g, i, "variable index ", n.attrs.index, " is negative");
    auto var = variable_of.find(n.attrs.index);
    if (var != variable_of.end()) {
      const Node& v = g.node(var->second);
      if (v.dtype != n.dtype || v.shape != n.shape) {
        return NodeError(g, i, "assigns ", TypeOf(n), " to variable #", n.attrs.index, " of type ",
                         TypeOf(v));
      }
    }
    for (ValueId v : pending[n.attrs.index]) overwritten_at[static_cast<size_t>(v)] = i;
    pending[n.attrs.index].clear();
  }
  for (ValueId i = 0; i < g.size(); ++i) {
    for (ValueId in : g.node(i).inputs) {
      if (g.node(in).op == Op::kVariable && i > overwritten_at[static_cast<size_t>(in)]) {
        return NodeError(g, i, "reads variable #", g.node(in).attrs.index, " (%", in, ") after %",
                         overwritten_at[static_cast<size_t>(in)], " assigned it");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status VerifyGraph(const Graph& graph) {
  for (ValueId i = 0; i < graph.size(); ++i) {
    if (absl::Status s = VerifyNode(graph, i); !s.ok()) return s;
  }
  for (ValueId out : graph.outputs()) {
    if (out < 0 || out >= graph.size()) {
      return absl::InternalError(absl::StrCat("verifier: output %", out, " is not a node"));
    }
  }
  return VerifyVariables(graph);
}

}  // namespace fornax
