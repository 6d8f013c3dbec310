// The reference backend: naive, obviously correct loops for every op in
// engine/ir/ops.def, on host memory. It is the test oracle for the fast
// backends and the fallback the executor uses when a backend has no kernel
// for a node. Not optimized on purpose.
//
// Numerics: floating ops compute in float32 (float16/bfloat16 are converted
// at load and store); matmul, conv and reductions accumulate in double.
// Input and Variable have no kernel: the executor binds them to the caller's
// tensors. Assign's kernel copies its input to its output; the executor
// writes the variable.
// Thread-safety: the backend and its kernels are stateless.
#ifndef FORNAX_ENGINE_BACKENDS_REFERENCE_REFERENCE_BACKEND_H_
#define FORNAX_ENGINE_BACKENDS_REFERENCE_REFERENCE_BACKEND_H_

#include "engine/ir/graph.h"
#include "engine/runtime/backend.h"
#include "engine/runtime/kernel.h"

namespace fornax {

// The reference kernel for `op`; nullptr for ops bound by the executor
// (Input, Variable).
KernelFn ReferenceKernel(Op op);

// The process-wide reference backend ("reference").
Backend* ReferenceBackend();

}  // namespace fornax

#endif  // FORNAX_ENGINE_BACKENDS_REFERENCE_REFERENCE_BACKEND_H_
