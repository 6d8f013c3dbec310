// GetOpDef: the table of OpDefs, indexed by op, gathered from the family
// files. Every op in ops.def must appear in exactly one family.
#include "engine/ir/op_def.h"

#include <array>

#include "engine/base/check.h"
#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

using OpDefTable = std::array<OpDef, kNumOps>;

OpDefTable BuildTable() {
  OpDefTable table{};
  std::array<bool, kNumOps> seen{};
  for (auto family : {LeafOpDefs, ElementwiseOpDefs, ReduceOpDefs, MovementOpDefs, LinalgOpDefs,
                      ConvOpDefs, PoolOpDefs, SideEffectOpDefs, FusedOpDefs}) {
    for (const OpDef& def : family()) {
      size_t i = static_cast<size_t>(def.op);
      FORNAX_CHECK(!seen[i]);  // an op defined twice
      seen[i] = true;
      table[i] = def;
    }
  }
  for (size_t i = 0; i < table.size(); ++i) {
    // Ops without a def keep infer == nullptr; op_def_test names them.
    if (!seen[i]) table[i].op = static_cast<Op>(i);
  }
  return table;
}

}  // namespace

const OpDef& GetOpDef(Op op) {
  static const OpDefTable table = BuildTable();
  return table[static_cast<size_t>(op)];
}

}  // namespace fornax
