// The CPU backend's kernels (oneDNN for matmul/conv, hand-written vectorized
// loops for the rest), declared for cpu_backend.cc's kernel table.
//
// Each kernel follows engine/runtime/kernel.h: shapes come from the concrete
// input and output tensors (kBatch already resolved), never from the node's
// symbolic shape. Kernels use the backend's thread count (SetNumThreads);
// results depend only on the data and that count, never on timing, so runs
// are bit-reproducible. Thread-safety: kernels may run concurrently; the
// oneDNN primitive caches are mutex-guarded.
#ifndef FORNAX_ENGINE_BACKENDS_CPU_KERNELS_KERNELS_H_
#define FORNAX_ENGINE_BACKENDS_CPU_KERNELS_KERNELS_H_

#include <cstdint>

#include "engine/backends/cpu/kernels/threads.h"
#include "engine/ir/graph.h"
#include "engine/runtime/kernel.h"

namespace fornax::cpu {

// MatMul and FusedMatMul (bias + unary epilogue), float32.
void MatMulKernel(const KernelContext& ctx);
// Conv2D and FusedConv2D, and the two backprops, float32 NHWC/HWIO.
void Conv2DKernel(const KernelContext& ctx);
void Conv2DBackpropInputKernel(const KernelContext& ctx);
void Conv2DBackpropFilterKernel(const KernelContext& ctx);
// Pooling, float32 NHWC. MaxPool2DGrad routes dy to the first max.
void MaxPool2DKernel(const KernelContext& ctx);
void MaxPool2DGradKernel(const KernelContext& ctx);
void AvgPool2DKernel(const KernelContext& ctx);
void AvgPool2DGradKernel(const KernelContext& ctx);
// FusedElementwise: attrs.program over broadcast inputs.
void FusedElementwiseKernel(const KernelContext& ctx);

// The kernel for a float32 unary/binary elementwise node, or nullptr.
KernelFn FindElementwiseKernel(const Node& node);
// The kernel for a float32 ReduceSum/ReduceMean/ReduceMax over contiguous
// axes, or nullptr.
KernelFn FindReduceKernel(const Node& node);

// y[i] = op(x[i]) for a unary math op (IsUnaryMathOp; x may equal y).
void UnaryLoop(Op op, const float* x, float* y, int64_t n);

}  // namespace fornax::cpu

#endif  // FORNAX_ENGINE_BACKENDS_CPU_KERNELS_KERNELS_H_
