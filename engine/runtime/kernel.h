// The contract between the executor and a backend's kernels.
//
// A kernel computes one node for concrete shapes (kBatch already replaced by
// the run's batch size). Inputs and the output are preallocated by the
// executor (the output usually lives in the plan's arena); kernels never
// allocate tensors that outlive the call and never fail: shapes were checked
// when the graph was built.
#ifndef FORNAX_ENGINE_RUNTIME_KERNEL_H_
#define FORNAX_ENGINE_RUNTIME_KERNEL_H_

#include <cstdint>
#include <span>

#include "engine/ir/graph.h"
#include "engine/tensor/tensor.h"

namespace fornax {

struct KernelContext {
  const Node& node;
  std::span<const Tensor> inputs;
  Tensor& output;
  uint64_t seed = 0;  // the run's RNG seed (RandomUniform)
  int64_t step = 0;   // the run's step counter (RandomUniform)
  // Threads the kernel may use. The executor leaves it at 1: a backend's
  // thread count is its own setting (Backend::set_num_threads).
  int num_threads = 1;
  bool inference = false;  // RunOptions::inference
};

using KernelFn = void (*)(const KernelContext& ctx);

}  // namespace fornax

#endif  // FORNAX_ENGINE_RUNTIME_KERNEL_H_
