#include "engine/backends/reference/reference_backend.h"

#include "engine/backends/reference/kernel_table.h"

namespace fornax {
namespace {

const reference::KernelTable& Table() {
  static const reference::KernelTable table = [] {
    reference::KernelTable t{};
    reference::RegisterElementwiseKernels(t);
    reference::RegisterReductionKernels(t);
    reference::RegisterShapeKernels(t);
    reference::RegisterNnKernels(t);
    reference::RegisterMiscKernels(t);
    reference::RegisterFusedKernels(t);
    return t;
  }();
  return table;
}

class ReferenceBackendImpl final : public Backend {
 public:
  std::string_view name() const override { return "reference"; }
  Allocator* allocator() override { return HostAllocator(); }
  BackendCaps caps() const override { return BackendCaps{}; }
  KernelFn FindKernel(const Node& node) const override { return ReferenceKernel(node.op); }
  // Reference kernels are single-threaded.
  void set_num_threads(int) override {}
};

}  // namespace

KernelFn ReferenceKernel(Op op) { return Table()[static_cast<size_t>(op)]; }

Backend* ReferenceBackend() {
  static ReferenceBackendImpl* backend = new ReferenceBackendImpl();
  return backend;
}

}  // namespace fornax
