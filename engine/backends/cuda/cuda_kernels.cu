// Fornax's own CUDA kernels: float32 elementwise Add, Mul (with NumPy
// broadcasting) and Relu. Grid-stride loops, so any size runs with a bounded
// grid; 64-bit indices, so tensors over 2^31 elements work.
#include <algorithm>

#include "engine/backends/cuda/cuda_check.h"
#include "engine/backends/cuda/cuda_kernels.h"

namespace fornax::cuda {
namespace {

constexpr int kThreadsPerBlock = 256;
// Enough blocks to fill an H100 several times over; the loop covers the rest.
constexpr int64_t kMaxBlocks = 4096;

int BlocksFor(int64_t n) {
  return static_cast<int>(
      std::min<int64_t>((n + kThreadsPerBlock - 1) / kThreadsPerBlock, kMaxBlocks));
}

template <BinaryOp kOp>
__device__ __forceinline__ float Apply(float a, float b) {
  if constexpr (kOp == BinaryOp::kAdd) {
    return a + b;
  } else {
    return a * b;
  }
}

template <BinaryOp kOp>
__global__ void BinarySameShapeKernel(const float* __restrict__ a, const float* __restrict__ b,
                                      float* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = Apply<kOp>(a[i], b[i]);
  }
}

template <BinaryOp kOp>
__global__ void BinaryBroadcastKernel(const float* __restrict__ a, const float* __restrict__ b,
                                      float* __restrict__ out, int64_t n, BroadcastIndex index) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // Peel the output's coordinates off from the innermost dim outwards.
    int64_t rest = i;
    int64_t a_offset = 0;
    int64_t b_offset = 0;
    for (int d = index.rank - 1; d >= 0; --d) {
      int64_t coord = rest % index.out_dims[d];
      rest /= index.out_dims[d];
      a_offset += coord * index.a_strides[d];
      b_offset += coord * index.b_strides[d];
    }
    out[i] = Apply<kOp>(a[a_offset], b[b_offset]);
  }
}

__global__ void ReluKernel(const float* __restrict__ x, float* __restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = x[i] > 0.0f ? x[i] : 0.0f;
  }
}

}  // namespace

void LaunchBinarySameShape(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  if (n == 0) return;
  if (op == BinaryOp::kAdd) {
    BinarySameShapeKernel<BinaryOp::kAdd><<<BlocksFor(n), kThreadsPerBlock>>>(a, b, out, n);
  } else {
    BinarySameShapeKernel<BinaryOp::kMul><<<BlocksFor(n), kThreadsPerBlock>>>(a, b, out, n);
  }
  FORNAX_CUDA_CHECK(cudaGetLastError());
}

void LaunchBinaryBroadcast(BinaryOp op, const float* a, const float* b, float* out, int64_t n,
                           const BroadcastIndex& index) {
  if (n == 0) return;
  if (op == BinaryOp::kAdd) {
    BinaryBroadcastKernel<BinaryOp::kAdd><<<BlocksFor(n), kThreadsPerBlock>>>(a, b, out, n, index);
  } else {
    BinaryBroadcastKernel<BinaryOp::kMul><<<BlocksFor(n), kThreadsPerBlock>>>(a, b, out, n, index);
  }
  FORNAX_CUDA_CHECK(cudaGetLastError());
}

void LaunchRelu(const float* x, float* out, int64_t n) {
  if (n == 0) return;
  ReluKernel<<<BlocksFor(n), kThreadsPerBlock>>>(x, out, n);
  FORNAX_CUDA_CHECK(cudaGetLastError());
}

}  // namespace fornax::cuda
