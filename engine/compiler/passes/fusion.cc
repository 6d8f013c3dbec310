#include "engine/compiler/passes/fusion.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/compiler/passes/fusion_util.h"
#include "engine/compiler/rewrite.h"
#include "engine/ir/fused_program.h"
#include "engine/ir/op_classes.h"

namespace fornax {
namespace {

bool FloatOrBool(DType t) { return t == DType::kFloat32 || t == DType::kBool; }

bool Fusible(const Graph& g, ValueId v) {
  const Node& node = g.node(v);
  if (!IsElementwiseOp(node.op) || !FloatOrBool(node.dtype)) return false;
  for (ValueId in : node.inputs) {
    if (!FloatOrBool(g.node(in).dtype)) return false;
  }
  return true;
}

// Grows the group rooted at `root` backwards through producers whose every
// reader is already in the group.
std::vector<ValueId> GrowGroup(const Graph& g, ValueId root, int gid, const std::vector<int>& uses,
                               const std::vector<std::vector<ValueId>>& consumers,
                               const AssignIndex& assigns, std::vector<int>* group_of) {
  std::vector<ValueId> members = {root};
  (*group_of)[static_cast<size_t>(root)] = gid;
  std::vector<ValueId> work = {root};
  while (!work.empty()) {
    const ValueId m = work.back();
    work.pop_back();
    for (ValueId p : g.node(m).inputs) {
      if ((*group_of)[static_cast<size_t>(p)] != -1 || !Fusible(g, p)) continue;
      if (g.node(p).shape != g.node(root).shape) continue;
      const auto& readers = consumers[static_cast<size_t>(p)];
      // uses > readers means p is also a graph output.
      if (uses[static_cast<size_t>(p)] != static_cast<int>(readers.size())) continue;
      const bool inside = std::all_of(readers.begin(), readers.end(), [&](ValueId r) {
        return (*group_of)[static_cast<size_t>(r)] == gid;
      });
      if (!inside || assigns.ReadWouldCrossAssign(g, p, root)) continue;
      (*group_of)[static_cast<size_t>(p)] = gid;
      members.push_back(p);
      work.push_back(p);
    }
  }
  std::sort(members.begin(), members.end());
  return members;
}

// The program for `members` (ascending; the last is the root) and its
// outside inputs, in register order.
std::shared_ptr<FusedProgram> BuildProgram(const Graph& g, const std::vector<ValueId>& members,
                                           std::vector<ValueId>* inputs) {
  auto prog = std::make_shared<FusedProgram>();
  absl::flat_hash_map<ValueId, int> input_reg, member_pos;
  std::vector<float> constants;
  absl::flat_hash_map<ValueId, int> constant_index;
  for (size_t i = 0; i < members.size(); ++i) member_pos[members[i]] = static_cast<int>(i);
  // First pass: number the outside inputs and the constants.
  for (ValueId m : members) {
    for (ValueId in : g.node(m).inputs) {
      if (member_pos.contains(in) || input_reg.contains(in) || constant_index.contains(in))
        continue;
      float scalar;
      if (IsScalarConstant(g, in, &scalar)) {
        constant_index[in] = static_cast<int>(constants.size());
        constants.push_back(scalar);
      } else {
        input_reg[in] = static_cast<int>(inputs->size());
        inputs->push_back(in);
      }
    }
  }
  prog->num_inputs = static_cast<int>(inputs->size());
  prog->constants = std::move(constants);
  for (ValueId m : members) {
    const Node& node = g.node(m);
    FusedProgram::Instr instr;
    instr.op = node.op;
    instr.cast_to = node.op == Op::kCast ? node.attrs.dtype : DType::kFloat32;
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const ValueId in = node.inputs[k];
      int reg;
      if (auto it = member_pos.find(in); it != member_pos.end()) {
        reg = prog->first_result() + it->second;
      } else if (auto c = constant_index.find(in); c != constant_index.end()) {
        reg = prog->first_constant() + c->second;
      } else {
        reg = input_reg.at(in);
      }
      instr.args[k] = reg;
    }
    prog->instrs.push_back(instr);
  }
  return prog;
}

}  // namespace

absl::StatusOr<bool> FusionPass::Run(Graph* graph) {
  const Graph& g = *graph;
  const std::vector<int> uses = UseCounts(g);
  const auto consumers = Consumers(g);
  const AssignIndex assigns(g);
  std::vector<int> group_of(static_cast<size_t>(g.size()), -1);
  std::vector<std::vector<ValueId>> groups;
  std::vector<int> root_group(static_cast<size_t>(g.size()), -1);
  for (ValueId v = g.size() - 1; v >= 0; --v) {
    if (group_of[static_cast<size_t>(v)] != -1 || !Fusible(g, v)) continue;
    const int gid = static_cast<int>(groups.size());
    std::vector<ValueId> members = GrowGroup(g, v, gid, uses, consumers, assigns, &group_of);
    if (members.size() < 2) {
      group_of[static_cast<size_t>(v)] = -2;  // stays a plain node
      continue;
    }
    root_group[static_cast<size_t>(v)] = gid;
    groups.push_back(std::move(members));
  }
  if (groups.empty()) return false;

  RemapBuilder rb(g);
  for (ValueId v = 0; v < g.size(); ++v) {
    const int gid = group_of[static_cast<size_t>(v)];
    if (gid < 0) {
      rb.Keep(v);
      continue;
    }
    if (root_group[static_cast<size_t>(v)] != gid) continue;  // folded into its root
    std::vector<ValueId> inputs;
    Node fused;
    fused.op = Op::kFusedElementwise;
    fused.dtype = g.node(v).dtype;
    fused.shape = g.node(v).shape;
    fused.name = g.node(v).name;
    fused.attrs.program = BuildProgram(g, groups[static_cast<size_t>(gid)], &inputs);
    fused.inputs = rb.MapAll(inputs);
    rb.Replace(v, rb.Append(std::move(fused)));
  }
  *graph = std::move(rb).Finish();
  return true;
}

}  // namespace fornax
