// The backend registry: maps a backend name to its process-wide instance.
// The only file outside a backend's folder that names a concrete backend.
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/backends/cpu/cpu_backend.h"
#include "engine/backends/reference/reference_backend.h"
#include "engine/runtime/backend.h"

#ifdef FORNAX_WITH_CUDA  // set by CMake when configured with -DFORNAX_CUDA=ON
#include "engine/backends/cuda/cuda_backend.h"
#endif

namespace fornax {

absl::StatusOr<Backend*> GetBackend(std::string_view name) {
  if (name == "reference") return ReferenceBackend();
  if (name == "cpu") return CpuBackend();
  if (name == "cuda") {
#ifdef FORNAX_WITH_CUDA
    return GetCudaBackend();
#else
    return absl::NotFoundError(
        "backend 'cuda' is not built into this binary (configure with -DFORNAX_CUDA=ON on a "
        "machine with CUDA)");
#endif
  }
  return absl::NotFoundError(absl::StrCat("unknown backend '", std::string(name),
                                          "': expected one of 'cpu', 'reference', 'cuda'"));
}

}  // namespace fornax
