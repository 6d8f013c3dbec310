// The "cpu" backend: oneDNN sgemm and convolutions plus hand-vectorized
// elementwise, fused-elementwise, reduction and pooling kernels, with OpenMP
// threads. Ops it has no fast kernel for get nullptr from FindKernel and run
// on the reference kernels (same host memory).
// Threads: 1 by default (or FORNAX_NUM_THREADS); set_num_threads(n) changes
// it for every plan in the process. On an otherwise idle 2-core machine 2
// threads are ~1.7x faster; on a busy one, OpenMP's spin-waiting makes them
// much slower unless OMP_WAIT_POLICY=passive is set. With n > 1 the calling
// thread and the OpenMP workers are pinned one per CPU (threads the caller
// creates afterwards inherit its CPU).
// Thread-safety: the backend object is immutable except for the thread count,
// which is an atomic shared by all plans in the process.
#ifndef FORNAX_ENGINE_BACKENDS_CPU_CPU_BACKEND_H_
#define FORNAX_ENGINE_BACKENDS_CPU_CPU_BACKEND_H_

#include "engine/runtime/backend.h"

namespace fornax {

// The process-wide CPU backend (engine/runtime's registry names it "cpu").
Backend* CpuBackend();

}  // namespace fornax

#endif  // FORNAX_ENGINE_BACKENDS_CPU_CPU_BACKEND_H_
