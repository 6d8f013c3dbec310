// Launchers for Fornax's own CUDA kernels (cuda_kernels.cu).
//
// This header is plain C++ (no CUDA types, no engine headers) so that the
// nvcc-compiled .cu file stays free of Abseil and the engine's C++20 headers,
// and the backend (compiled by the host compiler) calls in with raw device
// pointers. All launches go to the default stream; they return once the
// launch is queued and abort on a launch error (see cuda_check.h).
#ifndef FORNAX_ENGINE_BACKENDS_CUDA_CUDA_KERNELS_H_
#define FORNAX_ENGINE_BACKENDS_CUDA_CUDA_KERNELS_H_

#include <cstdint>

namespace fornax::cuda {

// Highest rank the broadcasting kernels index.
inline constexpr int kMaxRank = 8;

// How a binary elementwise op walks its operands: the output's dims, and per
// operand the element stride of each output dim (0 where it broadcasts).
// Operands are aligned to the output's trailing dims, as in NumPy.
struct BroadcastIndex {
  int rank = 0;
  int64_t out_dims[kMaxRank] = {};
  int64_t a_strides[kMaxRank] = {};
  int64_t b_strides[kMaxRank] = {};
};

enum class BinaryOp { kAdd, kMul };

// out[i] = a[i] op b[i] for `n` elements of the same shape.
void LaunchBinarySameShape(BinaryOp op, const float* a, const float* b, float* out, int64_t n);
// out = a op b with NumPy broadcasting described by `index` (n = output size).
void LaunchBinaryBroadcast(BinaryOp op, const float* a, const float* b, float* out, int64_t n,
                           const BroadcastIndex& index);
// out[i] = max(x[i], 0).
void LaunchRelu(const float* x, float* out, int64_t n);

}  // namespace fornax::cuda

#endif  // FORNAX_ENGINE_BACKENDS_CUDA_CUDA_KERNELS_H_
