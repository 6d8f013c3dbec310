#include "engine/compiler/passes/memory_plan.h"

#include <algorithm>
#include <limits>
#include <map>

#include "engine/base/check.h"
#include "engine/ir/op_classes.h"

namespace fornax {
namespace {

using Home = MemoryPlan::Home;

size_t AlignUp(size_t bytes) {
  return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

size_t BytesAt(const Node& node, int64_t max_batch) {
  return AlignUp(static_cast<size_t>(node.shape.NumElements(max_batch)) * DTypeSize(node.dtype));
}

// Live blocks (offset -> size); gaps between them are free.
class BlockList {
 public:
  // Best fit: the smallest gap that holds `size`, else the end.
  // REQUIRES: size > 0 (empty values take no block).
  size_t Allocate(size_t size) {
    size_t best = std::numeric_limits<size_t>::max();
    size_t best_gap = std::numeric_limits<size_t>::max();
    size_t cursor = 0;
    for (const auto& [offset, block_size] : blocks_) {
      const size_t gap = offset - cursor;
      if (gap >= size && gap < best_gap) {
        best = cursor;
        best_gap = gap;
      }
      cursor = offset + block_size;
    }
    if (best == std::numeric_limits<size_t>::max()) best = cursor;
    blocks_[best] = size;
    high_water_ = std::max(high_water_, best + size);
    return best;
  }
  void Free(size_t offset) { blocks_.erase(offset); }
  size_t high_water() const { return high_water_; }

 private:
  std::map<size_t, size_t> blocks_;
  size_t high_water_ = 0;
};

}  // namespace

bool CanRunInPlace(Op op) {
  return IsUnaryMathOp(op) || IsBinaryArithmeticOp(op) || op == Op::kFusedElementwise;
}

std::vector<MemoryPlan::Slot> AssignHomes(const Graph& graph) {
  std::vector<MemoryPlan::Slot> slots(static_cast<size_t>(graph.size()));
  for (ValueId v = 0; v < graph.size(); ++v) {
    const Node& node = graph.node(v);
    MemoryPlan::Slot& slot = slots[static_cast<size_t>(v)];
    switch (node.op) {
      case Op::kInput:
        slot.home = Home::kInput;
        break;
      case Op::kVariable:
        slot.home = Home::kVariable;
        slot.variable = node.attrs.index;
        break;
      case Op::kConstant:
        slot.home = Home::kConstant;
        break;
      case Op::kReshape:
      case Op::kAssign:
        slot.home = Home::kAlias;
        slot.alias_of = node.inputs[0];
        break;
      default:
        slot.home = Home::kArena;
    }
  }
  return slots;
}

Liveness ComputeLiveness(const Graph& graph, const std::vector<MemoryPlan::Slot>& homes) {
  Liveness live;
  live.root.resize(static_cast<size_t>(graph.size()));
  live.last_use.resize(static_cast<size_t>(graph.size()));
  for (ValueId v = 0; v < graph.size(); ++v) {
    const MemoryPlan::Slot& slot = homes[static_cast<size_t>(v)];
    live.root[static_cast<size_t>(v)] =
        slot.home == Home::kAlias ? live.root[static_cast<size_t>(slot.alias_of)] : v;
    live.last_use[static_cast<size_t>(v)] = v;
    for (ValueId in : graph.node(v).inputs) {
      int& last = live.last_use[static_cast<size_t>(live.root[static_cast<size_t>(in)])];
      last = std::max(last, static_cast<int>(v));
    }
  }
  for (ValueId out : graph.outputs()) {
    live.last_use[static_cast<size_t>(live.root[static_cast<size_t>(out)])] = graph.size();
  }
  return live;
}

// An input of `v` whose storage dies at `v` and can take `v`'s output in
// place, or kNoValue.
ValueId InPlaceDonor(const Graph& graph, const MemoryPlan& plan, const Liveness& live, ValueId v,
                     int64_t max_batch) {
  const Node& node = graph.node(v);
  if (!CanRunInPlace(node.op)) return kNoValue;
  for (ValueId in : node.inputs) {
    const ValueId root = live.root[static_cast<size_t>(in)];
    const Node& viewed = graph.node(in);
    if (plan.slots[static_cast<size_t>(root)].home == Home::kArena &&
        live.last_use[static_cast<size_t>(root)] == v && viewed.dtype == node.dtype &&
        viewed.shape == node.shape && BytesAt(node, max_batch) > 0 &&
        BytesAt(graph.node(root), max_batch) == BytesAt(node, max_batch)) {
      return root;
    }
  }
  return kNoValue;
}

void PlaceUpdatesInVariables(const Graph& graph, std::vector<MemoryPlan::Slot>* slots) {
  const Liveness live = ComputeLiveness(graph, *slots);
  std::map<int64_t, int> assigns;  // variable -> number of Assigns to it
  for (const Node& node : graph.nodes()) {
    if (node.op == Op::kAssign) ++assigns[node.attrs.index];
  }
  for (ValueId a = 0; a < graph.size(); ++a) {
    const Node& assign = graph.node(a);
    if (assign.op != Op::kAssign || assigns[assign.attrs.index] != 1) continue;
    const ValueId v = assign.inputs[0];
    const Node& update = graph.node(v);
    if ((*slots)[static_cast<size_t>(v)].home != Home::kArena) continue;
    // Every reader of the variable's old value must run before `v`, except
    // `v` itself reading it elementwise at the same position.
    bool safe = true;
    for (ValueId r = 0; r < graph.size() && safe; ++r) {
      const Node& reader = graph.node(r);
      if (reader.op != Op::kVariable || reader.attrs.index != assign.attrs.index) continue;
      if (r > v) {
        safe = false;  // reads the old value after `v` would have replaced it
        break;
      }
      const int last = live.last_use[static_cast<size_t>(r)];
      if (last < v) continue;
      bool direct_elementwise = last == v && CanRunInPlace(update.op);
      for (ValueId in : update.inputs) {
        if (live.root[static_cast<size_t>(in)] == r && (in != r || reader.shape != update.shape)) {
          direct_elementwise = false;
        }
      }
      safe = direct_elementwise;
    }
    if (!safe) continue;
    MemoryPlan::Slot& slot = (*slots)[static_cast<size_t>(v)];
    slot.home = Home::kVariable;
    slot.variable = assign.attrs.index;
  }
}

MemoryPlan PlanMemory(const Graph& graph, int64_t max_batch, MemoryPlanOptions options) {
  MemoryPlan plan;
  plan.slots = AssignHomes(graph);
  if (options.updates_in_variables) PlaceUpdatesInVariables(graph, &plan.slots);
  const Liveness live = ComputeLiveness(graph, plan.slots);
  // Arena blocks whose owner is last read at node t, freed before node t + 1.
  std::vector<std::vector<ValueId>> dies_at(static_cast<size_t>(graph.size()) + 1);
  BlockList blocks;
  for (ValueId v = 0; v < graph.size(); ++v) {
    if (v > 0) {
      for (ValueId dead : dies_at[static_cast<size_t>(v - 1)]) {
        blocks.Free(plan.slots[static_cast<size_t>(dead)].offset);
      }
    }
    MemoryPlan::Slot& slot = plan.slots[static_cast<size_t>(v)];
    if (slot.home != Home::kArena) continue;
    const size_t bytes = BytesAt(graph.node(v), max_batch);
    if (bytes == 0) continue;  // an empty value needs no block (offset 0)
    const ValueId donor =
        options.in_place ? InPlaceDonor(graph, plan, live, v, max_batch) : kNoValue;
    if (donor != kNoValue) {
      // Take the donor's block over; it is freed when this value dies instead.
      slot.offset = plan.slots[static_cast<size_t>(donor)].offset;
      std::vector<ValueId>& dying = dies_at[static_cast<size_t>(v)];
      dying.erase(std::find(dying.begin(), dying.end(), donor));
    } else {
      slot.offset = blocks.Allocate(bytes);
    }
    dies_at[static_cast<size_t>(live.last_use[static_cast<size_t>(v)])].push_back(v);
  }
  plan.arena_bytes = blocks.high_water();
  return plan;
}

}  // namespace fornax
