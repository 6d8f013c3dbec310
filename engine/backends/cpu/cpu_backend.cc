#include "engine/backends/cpu/cpu_backend.h"

#include "engine/backends/cpu/kernels/kernels.h"

namespace fornax {
namespace {

class CpuBackendImpl final : public Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  Allocator* allocator() override { return HostAllocator(); }
  BackendCaps caps() const override {
    return BackendCaps{.fused_elementwise = true, .fused_matmul = true, .fused_conv2d = true};
  }

  KernelFn FindKernel(const Node& node) const override {
    // A fused program computes in float and may store bool; everything else
    // here is float32 only.
    if (node.op == Op::kFusedElementwise) {
      const bool ok = node.dtype == DType::kFloat32 || node.dtype == DType::kBool;
      return ok ? &cpu::FusedElementwiseKernel : nullptr;
    }
    if (node.dtype == DType::kBool) return cpu::FindElementwiseKernel(node);  // comparisons
    if (node.dtype != DType::kFloat32) return nullptr;
    switch (node.op) {
      case Op::kMatMul:
      case Op::kFusedMatMul:
        return &cpu::MatMulKernel;
      case Op::kConv2D:
      case Op::kFusedConv2D:
        return &cpu::Conv2DKernel;
      case Op::kConv2DBackpropInput:
        return &cpu::Conv2DBackpropInputKernel;
      case Op::kConv2DBackpropFilter:
        return &cpu::Conv2DBackpropFilterKernel;
      case Op::kMaxPool2D:
        return &cpu::MaxPool2DKernel;
      case Op::kMaxPool2DGrad:
        return &cpu::MaxPool2DGradKernel;
      case Op::kAvgPool2D:
        return &cpu::AvgPool2DKernel;
      case Op::kAvgPool2DGrad:
        return &cpu::AvgPool2DGradKernel;
      case Op::kReduceSum:
      case Op::kReduceMean:
      case Op::kReduceMax:
        return cpu::FindReduceKernel(node);
      default:
        return cpu::FindElementwiseKernel(node);
    }
  }

  void set_num_threads(int n) override { cpu::SetNumThreads(n); }
};

}  // namespace

Backend* CpuBackend() {
  static CpuBackendImpl* backend = new CpuBackendImpl();
  return backend;
}

}  // namespace fornax
