// The backend registry: maps a backend name to its process-wide instance.
// The only file outside a backend's folder that names a concrete backend.
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/backends/reference/reference_backend.h"
#include "engine/runtime/backend.h"

#if __has_include("engine/backends/cpu/cpu_backend.h")
#include "engine/backends/cpu/cpu_backend.h"
#define FORNAX_HAVE_CPU_BACKEND 1
#endif

namespace fornax {

absl::StatusOr<Backend*> GetBackend(std::string_view name) {
  if (name == "reference") return ReferenceBackend();
  if (name == "cpu") {
#ifdef FORNAX_HAVE_CPU_BACKEND
    return CpuBackend();
#else
    // Until the fast CPU backend is built, "cpu" runs the reference kernels.
    return ReferenceBackend();
#endif
  }
  if (name == "cuda") {
    return absl::NotFoundError(
        "backend 'cuda' is not built into this binary (configure with -DFORNAX_CUDA=ON on a "
        "machine with CUDA)");
  }
  return absl::NotFoundError(absl::StrCat("unknown backend '", std::string(name),
                                          "': expected one of 'cpu', 'reference', 'cuda'"));
}

}  // namespace fornax
