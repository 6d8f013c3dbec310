// The "cuda" Backend: device memory from cudaMalloc, Fornax's own elementwise
// kernels (cuda_kernels.cu) and MatMul through cuBLAS.
//
// A skeleton for M1-1: FindCudaKernel covers float32 Add, Mul (broadcasting),
// Relu and MatMul (both transposes) and returns nullptr for everything else.
// The executor still assumes host memory, so compiled plans do not run here
// yet; the kernels are tested directly against host loops
// (cuda_backend_test.cc). All work is queued on the default stream in issue
// order; the copies below synchronize.
// Thread-safety: the backend is immutable after creation; the cuBLAS handle
// is created once, on first use.
#ifndef FORNAX_ENGINE_BACKENDS_CUDA_CUDA_BACKEND_H_
#define FORNAX_ENGINE_BACKENDS_CUDA_CUDA_BACKEND_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/ir/graph.h"
#include "engine/runtime/backend.h"
#include "engine/tensor/tensor.h"

namespace fornax {

// OK when a CUDA device can be used; otherwise Unavailable with
// "no CUDA device: <the CUDA runtime's error string>" (e.g. "CUDA driver
// version is insufficient for CUDA runtime version" on a host without a
// driver).
absl::Status ProbeCudaDevice();

// The process-wide "cuda" backend on device 0, or ProbeCudaDevice()'s error.
// For the backend registry (engine/backends/registry.cc).
absl::StatusOr<Backend*> GetCudaBackend();

// The kernel for `node` on the cuda backend, or nullptr when there is none.
// Pure lookup: needs no device.
KernelFn FindCudaKernel(const Node& node);

// Blocking copies between host tensors and tensors in `device` memory (the
// cuda backend's allocator). InvalidArgument when a tensor is on the wrong
// side; Internal with the CUDA error string when the copy fails.
absl::StatusOr<Tensor> CopyToDevice(const Tensor& host, Allocator* device);
absl::StatusOr<Tensor> CopyToHost(const Tensor& device);

// The cuDNN library's version (e.g. 91900 for 9.19.0); needs no device.
size_t CudnnVersion();

}  // namespace fornax

#endif  // FORNAX_ENGINE_BACKENDS_CUDA_CUDA_BACKEND_H_
