// Backend: one device kind (cpu, reference, cuda) behind a small interface,
// after ggml's backends and tinygrad's ops_<dev>.py: an allocator, a kernel
// lookup, and the fusions the compiler may form for it. Only engine/backends/
// implements this; nothing else knows which device it runs on.
// Thread-safety: backends are immutable after registration.
#ifndef FORNAX_ENGINE_RUNTIME_BACKEND_H_
#define FORNAX_ENGINE_RUNTIME_BACKEND_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "engine/runtime/kernel.h"
#include "engine/tensor/buffer.h"

namespace fornax {

// What the compiler may produce for a backend.
struct BackendCaps {
  bool fused_elementwise = false;
  bool fused_matmul = false;  // FusedMatMul with bias and unary epilogue
  bool fused_conv2d = false;  // FusedConv2D with bias and unary epilogue
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual Allocator* allocator() = 0;
  virtual BackendCaps caps() const = 0;
  // The kernel for `node`, or nullptr when this backend lacks one (the
  // executor then uses the reference kernel on host memory).
  virtual KernelFn FindKernel(const Node& node) const = 0;
  // Threads the backend's kernels may use (0 = its default).
  virtual void set_num_threads(int n) = 0;
};

// "cpu" (oneDNN + vectorized loops), "reference" (naive loops, the test
// oracle) and, when built with FORNAX_CUDA, "cuda". NotFound otherwise.
absl::StatusOr<Backend*> GetBackend(std::string_view name);

}  // namespace fornax

#endif  // FORNAX_ENGINE_RUNTIME_BACKEND_H_
