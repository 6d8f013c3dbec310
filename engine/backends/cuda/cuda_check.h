// FORNAX_CUDA_CHECK / FORNAX_CUBLAS_CHECK: abort with the library's error
// string when a CUDA runtime or cuBLAS call fails inside a kernel.
//
// Kernels never fail by contract (engine/runtime/kernel.h): shapes were
// checked when the graph was built, so a failing launch or cuBLAS call is a
// broken invariant (or a lost device), not a user error. Code that can
// report errors (the probe, copies) returns absl::Status instead.
#ifndef FORNAX_ENGINE_BACKENDS_CUDA_CUDA_CHECK_H_
#define FORNAX_ENGINE_BACKENDS_CUDA_CUDA_CHECK_H_

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#define FORNAX_CUDA_CHECK(expr)                                                            \
  do {                                                                                     \
    cudaError_t fornax_cuda_error_ = (expr);                                               \
    if (fornax_cuda_error_ != cudaSuccess) {                                               \
      std::fprintf(stderr, "%s:%d: CUDA call failed: %s: %s\n", __FILE__, __LINE__, #expr, \
                   cudaGetErrorString(fornax_cuda_error_));                                \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

#define FORNAX_CUBLAS_CHECK(expr)                                                            \
  do {                                                                                       \
    cublasStatus_t fornax_cublas_status_ = (expr);                                           \
    if (fornax_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                    \
      std::fprintf(stderr, "%s:%d: cuBLAS call failed: %s: %s\n", __FILE__, __LINE__, #expr, \
                   cublasGetStatusString(fornax_cublas_status_));                            \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

#endif  // FORNAX_ENGINE_BACKENDS_CUDA_CUDA_CHECK_H_
