#include "engine/backends/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "engine/backends/cuda/cuda_check.h"
#include "engine/backends/cuda/cuda_kernels.h"
#include "engine/base/check.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

// cudaMalloc's alignment (256 bytes) exceeds the 64 the Allocator contract
// asks for. Sizes round up so a zero-byte tensor still gets a distinct,
// non-null pointer (Buffer::Make treats nullptr as out of memory).
class CudaAllocator final : public Allocator {
 public:
  const char* device_name() const override { return "cuda"; }
  void* Allocate(size_t bytes) override {
    size_t rounded = bytes == 0 ? 256 : (bytes + 255) / 256 * 256;
    void* ptr = nullptr;
    if (cudaMalloc(&ptr, rounded) != cudaSuccess) {
      cudaGetLastError();  // reset, so the next CUDA call does not report this one
      return nullptr;
    }
    // Buffer's contract: fresh memory reads as zeros.
    if (cudaMemset(ptr, 0, rounded) != cudaSuccess) {
      cudaFree(ptr);
      return nullptr;
    }
    return ptr;
  }
  void Free(void* ptr) override { FORNAX_CUDA_CHECK(cudaFree(ptr)); }
  bool host_accessible() const override { return false; }
};

cublasHandle_t CublasHandle() {
  // Created on first use (a handle needs a device); never destroyed, like
  // the backend itself, so kernels never race with teardown.
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    FORNAX_CUBLAS_CHECK(cublasCreate(&h));
    // Plain float32 math: no TF32, so results stay comparable to the CPU.
    FORNAX_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    return h;
  }();
  return handle;
}

// Row-major strides of `shape`, aligned to the trailing dims of an output of
// `out_rank`; 0 where the operand has size 1 (it broadcasts) or no dim.
void FillBroadcastStrides(const Shape& operand, const Shape& out, int64_t* strides) {
  int offset = out.rank() - operand.rank();
  int64_t stride = 1;
  for (int d = out.rank() - 1; d >= 0; --d) {
    int od = d - offset;
    if (od < 0) {
      strides[d] = 0;
      continue;
    }
    strides[d] = operand.dim(od) == 1 && out.dim(d) != 1 ? 0 : stride;
    stride *= operand.dim(od);
  }
}

void BinaryKernel(const KernelContext& ctx, cuda::BinaryOp op) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& out = ctx.output;
  if (a.shape() == out.shape() && b.shape() == out.shape()) {
    cuda::LaunchBinarySameShape(op, a.data<float>(), b.data<float>(), out.data<float>(),
                                out.num_elements());
    return;
  }
  FORNAX_CHECK(out.shape().rank() <= cuda::kMaxRank);
  cuda::BroadcastIndex index;
  index.rank = out.shape().rank();
  for (int d = 0; d < index.rank; ++d) index.out_dims[d] = out.shape().dim(d);
  FillBroadcastStrides(a.shape(), out.shape(), index.a_strides);
  FillBroadcastStrides(b.shape(), out.shape(), index.b_strides);
  cuda::LaunchBinaryBroadcast(op, a.data<float>(), b.data<float>(), out.data<float>(),
                              out.num_elements(), index);
}

void AddKernel(const KernelContext& ctx) { BinaryKernel(ctx, cuda::BinaryOp::kAdd); }
void MulKernel(const KernelContext& ctx) { BinaryKernel(ctx, cuda::BinaryOp::kMul); }

void ReluKernel(const KernelContext& ctx) {
  cuda::LaunchRelu(ctx.inputs[0].data<float>(), ctx.output.data<float>(),
                   ctx.output.num_elements());
}

// out[M,N] = op(a) @ op(b), all row-major. cuBLAS is column-major, and a
// row-major matrix read column-major is its transpose, so this computes
// out^T = op(b)^T @ op(a)^T: swap the operands, keep the transpose flags.
void MatMulKernel(const KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  Tensor& out = ctx.output;
  const bool ta = ctx.node.attrs.transpose_a;
  const bool tb = ctx.node.attrs.transpose_b;
  const int m = static_cast<int>(out.shape().dim(0));
  const int n = static_cast<int>(out.shape().dim(1));
  const int k = static_cast<int>(ta ? a.shape().dim(0) : a.shape().dim(1));
  if (m == 0 || n == 0) return;
  const float alpha = 1.0f;
  const float beta = 0.0f;
  FORNAX_CUBLAS_CHECK(cublasSgemm(CublasHandle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b.data<float>(),
                                  tb ? k : n, a.data<float>(), ta ? m : k, &beta, out.data<float>(),
                                  n));
}

class CudaBackend final : public Backend {
 public:
  std::string_view name() const override { return "cuda"; }
  Allocator* allocator() override { return &allocator_; }
  // The compiler's fusions are not implemented here yet.
  BackendCaps caps() const override { return BackendCaps{}; }
  KernelFn FindKernel(const Node& node) const override { return FindCudaKernel(node); }
  // Kernels run on the GPU; host threads do not apply.
  void set_num_threads(int /*n*/) override {}

 private:
  CudaAllocator allocator_;
};

absl::Status CopyStatus(cudaError_t error, std::string_view what) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("CUDA copy ", std::string(what), " failed: ", cudaGetErrorString(error)));
}

}  // namespace

absl::Status ProbeCudaDevice() {
  int count = 0;
  cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    return absl::UnavailableError(absl::StrCat("no CUDA device: ", cudaGetErrorString(error)));
  }
  if (count == 0) {
    return absl::UnavailableError("no CUDA device: cudaGetDeviceCount found 0 devices");
  }
  return absl::OkStatus();
}

absl::StatusOr<Backend*> GetCudaBackend() {
  static const absl::Status* probe = new absl::Status(ProbeCudaDevice());
  if (!probe->ok()) return *probe;
  static CudaBackend* backend = new CudaBackend();
  return backend;
}

KernelFn FindCudaKernel(const Node& node) {
  if (node.dtype != DType::kFloat32) return nullptr;
  switch (node.op) {
    case Op::kAdd:
      return &AddKernel;
    case Op::kMul:
      return &MulKernel;
    case Op::kRelu:
      return &ReluKernel;
    case Op::kMatMul:
      return &MatMulKernel;
    default:
      return nullptr;
  }
}

absl::StatusOr<Tensor> CopyToDevice(const Tensor& host, Allocator* device) {
  if (!host.buffer()->allocator()->host_accessible()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyToDevice: source tensor must be in host memory, got ",
                     host.buffer()->allocator()->device_name()));
  }
  if (device->host_accessible()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CopyToDevice: target allocator must be a device's, got ", device->device_name()));
  }
  Tensor out(host.dtype(), host.shape(), device);
  FORNAX_RETURN_IF_ERROR(CopyStatus(
      cudaMemcpy(out.raw_data(), host.raw_data(), host.byte_size(), cudaMemcpyHostToDevice),
      "host to device"));
  return out;
}

absl::StatusOr<Tensor> CopyToHost(const Tensor& device) {
  if (device.buffer()->allocator()->host_accessible()) {
    return absl::InvalidArgumentError(
        absl::StrCat("CopyToHost: source tensor must be in device memory, got ",
                     device.buffer()->allocator()->device_name()));
  }
  Tensor out(device.dtype(), device.shape());
  FORNAX_RETURN_IF_ERROR(CopyStatus(
      cudaMemcpy(out.raw_data(), device.raw_data(), device.byte_size(), cudaMemcpyDeviceToHost),
      "device to host"));
  return out;
}

size_t CudnnVersion() { return cudnnGetVersion(); }

}  // namespace fornax
