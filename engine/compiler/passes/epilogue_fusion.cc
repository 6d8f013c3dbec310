#include "engine/compiler/passes/epilogue_fusion.h"

#include <vector>

#include "engine/compiler/passes/fusion_util.h"
#include "engine/compiler/rewrite.h"

namespace fornax {
namespace {

bool IsEpilogueOp(Op op) { return op == Op::kRelu || op == Op::kSigmoid || op == Op::kTanh; }

// Greater(p, 0) -> Greater(Relu(p), 0) where Relu(p) comes first.
bool RewriteReluGradients(Graph* graph) {
  const auto consumers = Consumers(*graph);
  bool changed = false;
  for (ValueId r = 0; r < graph->size(); ++r) {
    if (graph->node(r).op != Op::kRelu) continue;
    const ValueId p = graph->node(r).inputs[0];
    for (ValueId c : consumers[static_cast<size_t>(p)]) {
      Node& cmp = graph->mutable_node(c);
      float zero = 1.0f;
      if (c > r && cmp.op == Op::kGreater && cmp.inputs[0] == p &&
          IsScalarConstant(*graph, cmp.inputs[1], &zero) && zero == 0.0f) {
        cmp.inputs[0] = r;
        changed = true;
      }
    }
  }
  return changed;
}

// True when `bias` can be the bias of a matmul/conv whose output is `out`.
bool IsBias(const Node& bias, const Shape& out) {
  if (bias.dtype != DType::kFloat32 || bias.shape.rank() < 1) return false;
  const Shape& s = bias.shape;
  if (s.rank() > out.rank() || s.dim(s.rank() - 1) != out.dim(out.rank() - 1)) return false;
  for (int d = 0; d + 1 < s.rank(); ++d) {
    if (s.dim(d) != 1) return false;
  }
  return true;
}

struct Chain {
  ValueId head = kNoValue;  // the MatMul / Conv2D
  ValueId bias = kNoValue;
  std::vector<Op> epilogue;
  std::vector<ValueId> members;  // head first, the chain's end last
};

Chain FindChain(const Graph& g, ValueId head, const std::vector<int>& uses,
                const std::vector<std::vector<ValueId>>& consumers) {
  Chain chain;
  chain.head = head;
  chain.members.push_back(head);
  ValueId cur = head;
  auto sole_consumer = [&](ValueId v) {
    return uses[static_cast<size_t>(v)] == 1 && consumers[static_cast<size_t>(v)].size() == 1
               ? consumers[static_cast<size_t>(v)][0]
               : kNoValue;
  };
  ValueId next = sole_consumer(cur);
  if (next != kNoValue && g.node(next).op == Op::kAdd && g.node(next).shape == g.node(cur).shape) {
    const Node& add = g.node(next);
    const ValueId other = add.inputs[0] == cur ? add.inputs[1] : add.inputs[0];
    if (IsBias(g.node(other), g.node(cur).shape) && other != cur) {
      chain.bias = other;
      chain.members.push_back(next);
      cur = next;
      next = sole_consumer(cur);
    }
  }
  while (next != kNoValue && IsEpilogueOp(g.node(next).op)) {
    chain.epilogue.push_back(g.node(next).op);
    chain.members.push_back(next);
    cur = next;
    next = sole_consumer(cur);
  }
  return chain;
}

}  // namespace

absl::StatusOr<bool> EpilogueFusionPass::Run(Graph* graph) {
  bool changed = RewriteReluGradients(graph);
  const Graph& g = *graph;
  const std::vector<int> uses = UseCounts(g);
  const auto consumers = Consumers(g);
  const AssignIndex assigns(g);
  std::vector<int> chain_of(static_cast<size_t>(g.size()), -1);
  std::vector<Chain> chains;
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& node = g.node(v);
    if ((node.op != Op::kMatMul && node.op != Op::kConv2D) || node.dtype != DType::kFloat32) {
      continue;
    }
    Chain chain = FindChain(g, v, uses, consumers);
    if (chain.members.size() < 2 || assigns.ReadWouldCrossAssign(g, v, chain.members.back())) {
      continue;
    }
    for (ValueId m : chain.members)
      chain_of[static_cast<size_t>(m)] = static_cast<int>(chains.size());
    chains.push_back(std::move(chain));
  }
  if (chains.empty()) return changed;

  RemapBuilder rb(g);
  for (ValueId v = 0; v < g.size(); ++v) {
    const int c = chain_of[static_cast<size_t>(v)];
    if (c < 0) {
      rb.Keep(v);
      continue;
    }
    const Chain& chain = chains[static_cast<size_t>(c)];
    if (v != chain.members.back()) continue;
    const Node& head = g.node(chain.head);
    Node fused;
    fused.op = head.op == Op::kMatMul ? Op::kFusedMatMul : Op::kFusedConv2D;
    fused.dtype = DType::kFloat32;
    fused.shape = g.node(v).shape;
    fused.attrs = head.attrs;
    fused.attrs.has_bias = chain.bias != kNoValue;
    fused.attrs.epilogue = chain.epilogue;
    fused.name = head.name;
    std::vector<ValueId> inputs = head.inputs;
    if (chain.bias != kNoValue) inputs.push_back(chain.bias);
    fused.inputs = rb.MapAll(inputs);
    rb.Replace(v, rb.Append(std::move(fused)));
  }
  *graph = std::move(rb).Finish();
  return true;
}

}  // namespace fornax
