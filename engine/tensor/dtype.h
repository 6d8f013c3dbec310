// Element types a tensor can hold, with Keras's names ("float32", "bool", ...).
//
// float16 and bfloat16 are storage types: kernels compute in float32 and the
// engine casts at the boundaries.
#ifndef FORNAX_ENGINE_TENSOR_DTYPE_H_
#define FORNAX_ENGINE_TENSOR_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fornax {

enum class DType : uint8_t {
  kFloat32,
  kFloat16,
  kBFloat16,
  kInt32,
  kInt64,
  kUInt8,
  kBool,
};

inline constexpr int kNumDTypes = 7;

// Bytes per element.
size_t DTypeSize(DType dtype);
// Keras's name: "float32", "float16", "bfloat16", "int32", "int64", "uint8", "bool".
std::string_view DTypeName(DType dtype);
// Inverse of DTypeName; InvalidArgument names the unknown string.
absl::StatusOr<DType> ParseDType(std::string_view name);
bool IsFloating(DType dtype);
bool IsInteger(DType dtype);

// Scalar conversions for the storage-only float types.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBFloat16(float f);  // round to nearest even
float BFloat16ToFloat(uint16_t b);

}  // namespace fornax

#endif  // FORNAX_ENGINE_TENSOR_DTYPE_H_
