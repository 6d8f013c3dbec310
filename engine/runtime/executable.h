// Executable: a compiled plan: the optimized graph, one kernel per node, and a
// memory plan that puts every intermediate value at an offset in one arena.
//
// The arena is sized for `max_batch`; any batch up to it runs on the same
// plan, so a short last batch never retraces. Variables live outside the
// arena, in the caller's span: Variable nodes read them in place and Assign
// nodes write them in place (optimizer updates need no copies).
// Ordering contract for passes: every reader of Variable #k runs before any
// Assign to #k; the builder's emission order already guarantees this.
// Thread-safety: Run is not reentrant (the arena is shared between runs).
#ifndef FORNAX_ENGINE_RUNTIME_EXECUTABLE_H_
#define FORNAX_ENGINE_RUNTIME_EXECUTABLE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ir/graph.h"
#include "engine/runtime/backend.h"
#include "engine/tensor/tensor.h"

namespace fornax {

struct RunOptions {
  uint64_t seed = 0;  // keys RandomUniform together with step and stream id
  int64_t step = 0;
  // The run only predicts (no gradients read its values): kernels may use
  // faster algorithms whose results differ from training's in the last bits.
  bool inference = false;
};

// Where each value lives during a run.
struct MemoryPlan {
  enum class Home : uint8_t { kArena, kInput, kVariable, kConstant, kAlias };
  struct Slot {
    Home home = Home::kArena;
    size_t offset = 0;      // kArena: byte offset at max_batch
    ValueId alias_of = -1;  // kAlias: shares the storage of this value (reshape, assign)
    // kVariable: the variable whose storage holds the value: a Variable
    // node's own, or the target of the Assign a computed value feeds (the
    // kernel then writes the update straight into the variable).
    int64_t variable = -1;
  };
  std::vector<Slot> slots;  // one per node
  size_t arena_bytes = 0;
};

class Executable {
 public:
  // REQUIRES: `graph` is verified; `plan` covers every node. `max_batch` is
  // the largest batch `plan` was sized for.
  static absl::StatusOr<std::unique_ptr<Executable>> Create(Graph graph, MemoryPlan plan,
                                                            Backend* backend, int64_t max_batch);

  // Runs the plan once. `inputs` match the graph's Input slots (batch <=
  // max_batch; InvalidArgument otherwise). Graph outputs are copied out.
  absl::Status Run(std::span<const Tensor> inputs, std::span<Tensor> variables,
                   const RunOptions& options, std::vector<Tensor>* outputs);

  const Graph& graph() const { return graph_; }
  const MemoryPlan& plan() const { return plan_; }
  int64_t max_batch() const { return max_batch_; }
  // The ops that run, after fusion, and the arena size.
  std::string PlanString() const;

 private:
  // Tensors for one concrete batch size: views into the arena, constants,
  // and the flat kernel-argument array. Built once per batch size.
  struct BatchState {
    std::vector<Tensor> values;  // one per node
    std::vector<Tensor> args;    // node v's inputs start at arg_begin_[v]
  };

  Executable(Graph graph, MemoryPlan plan, Backend* backend, int64_t max_batch);
  absl::StatusOr<int64_t> CheckInputs(std::span<const Tensor> inputs) const;
  absl::Status CheckVariables(std::span<const Tensor> variables) const;
  BatchState& StateFor(int64_t batch);

  Graph graph_;
  MemoryPlan plan_;
  Backend* backend_;
  int64_t max_batch_;
  std::vector<KernelFn> kernels_;       // per node; nullptr = nothing to compute
  int64_t num_inputs_ = 0;              // Input slots: 1 + the largest index
  std::vector<ValueId> input_node_;     // every Input node
  std::vector<ValueId> variable_node_;  // nodes reading or assigning variables
  std::vector<ValueId> dynamic_;        // values bound per run (inputs, variables, their aliases)
  std::vector<uint32_t> arg_begin_;
  std::vector<std::pair<uint32_t, ValueId>> dynamic_args_;  // (args position, value)
  std::shared_ptr<Buffer> arena_;
  std::map<int64_t, std::unique_ptr<BatchState>> states_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_RUNTIME_EXECUTABLE_H_
