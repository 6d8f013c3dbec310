// Tensor: a dtype, a concrete shape and a view into a shared Buffer.
//
// Tensors are cheap to copy (they share the buffer). A tensor made with
// Tensor(dtype, shape) owns fresh zeroed host memory. Use Clone() for a deep
// copy. Thread-safety: as for the underlying Buffer.
#ifndef FORNAX_ENGINE_TENSOR_TENSOR_H_
#define FORNAX_ENGINE_TENSOR_TENSOR_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/tensor/buffer.h"
#include "engine/tensor/dtype.h"
#include "engine/tensor/shape.h"

namespace fornax {

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled host tensor. REQUIRES: shape has no kBatch.
  Tensor(DType dtype, Shape shape, Allocator* allocator = HostAllocator());
  // A view of `buffer` starting at `byte_offset`.
  Tensor(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, size_t byte_offset = 0);

  static Tensor Scalar(float v);
  static Tensor FromFloats(Shape shape, std::span<const float> values);
  static Tensor FromInts(Shape shape, std::span<const int32_t> values);

  bool defined() const { return buffer_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t num_elements() const { return shape_.NumElements(); }
  size_t byte_size() const { return static_cast<size_t>(num_elements()) * DTypeSize(dtype_); }
  const std::shared_ptr<Buffer>& buffer() const { return buffer_; }

  void* raw_data() { return static_cast<char*>(buffer_->data()) + offset_; }
  const void* raw_data() const { return static_cast<const char*>(buffer_->data()) + offset_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(raw_data());
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(raw_data());
  }

  // Deep copy into fresh host memory.
  Tensor Clone() const;
  // Same buffer, different shape. REQUIRES: same number of elements.
  Tensor Reshaped(Shape shape) const;
  // Rows [begin, end) along axis 0, as a view (no copy).
  Tensor SliceRows(int64_t begin, int64_t end) const;
  // `parts` stacked along axis 0, copied into a new tensor. REQUIRES: at
  // least one part; all of one dtype and the same dims after the first.
  static Tensor ConcatRows(const std::vector<Tensor>& parts);
  // Element i converted to double / written from double, for any dtype.
  double GetAsDouble(int64_t i) const;
  void SetFromDouble(int64_t i, double v);
  // A copy converted to `dtype` (float16/bfloat16 round to nearest even).
  Tensor CastTo(DType dtype) const;
  // Bytewise equality of dtype, shape and contents.
  bool BitwiseEquals(const Tensor& other) const;
  std::string DebugString(int max_elements = 8) const;

 private:
  DType dtype_ = DType::kFloat32;
  Shape shape_;
  std::shared_ptr<Buffer> buffer_;
  size_t offset_ = 0;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_TENSOR_TENSOR_H_
