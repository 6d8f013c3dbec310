// The reference kernel table, filled by one registration function per op
// family (one .cc each). Internal to engine/backends/reference.
#ifndef FORNAX_ENGINE_BACKENDS_REFERENCE_KERNEL_TABLE_H_
#define FORNAX_ENGINE_BACKENDS_REFERENCE_KERNEL_TABLE_H_

#include <array>

#include "engine/ir/graph.h"
#include "engine/runtime/kernel.h"

namespace fornax::reference {

using KernelTable = std::array<KernelFn, kNumOps>;

inline void Register(KernelTable& table, Op op, KernelFn fn) {
  table[static_cast<size_t>(op)] = fn;
}

void RegisterElementwiseKernels(KernelTable& table);  // elementwise.cc
void RegisterReductionKernels(KernelTable& table);    // reduction.cc
void RegisterShapeKernels(KernelTable& table);        // shape.cc
void RegisterNnKernels(KernelTable& table);           // nn.cc (matmul, conv, pool)
void RegisterMiscKernels(KernelTable& table);         // misc.cc (leaves, assign)
void RegisterFusedKernels(KernelTable& table);        // fused.cc

// Shared with the fused kernels, which run them on their first two inputs.
void MatMulKernel(const KernelContext& ctx);
void Conv2DKernel(const KernelContext& ctx);

}  // namespace fornax::reference

#endif  // FORNAX_ENGINE_BACKENDS_REFERENCE_KERNEL_TABLE_H_
