#include "engine/tensor/tensor.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/base/check.h"

namespace fornax {

Tensor::Tensor(DType dtype, Shape shape, Allocator* allocator)
    : dtype_(dtype), shape_(std::move(shape)) {
  FORNAX_CHECK(!shape_.HasBatch());
  buffer_ = Buffer::Make(allocator, byte_size());
}

Tensor::Tensor(DType dtype, Shape shape, std::shared_ptr<Buffer> buffer, size_t byte_offset)
    : dtype_(dtype), shape_(std::move(shape)), buffer_(std::move(buffer)), offset_(byte_offset) {
  FORNAX_CHECK(!shape_.HasBatch());
  FORNAX_CHECK(offset_ + byte_size() <= buffer_->size());
}

Tensor Tensor::Scalar(float v) {
  Tensor t(DType::kFloat32, Shape{});
  *t.data<float>() = v;
  return t;
}

Tensor Tensor::FromFloats(Shape shape, std::span<const float> values) {
  Tensor t(DType::kFloat32, std::move(shape));
  FORNAX_CHECK(static_cast<int64_t>(values.size()) == t.num_elements());
  std::memcpy(t.raw_data(), values.data(), t.byte_size());
  return t;
}

Tensor Tensor::FromInts(Shape shape, std::span<const int32_t> values) {
  Tensor t(DType::kInt32, std::move(shape));
  FORNAX_CHECK(static_cast<int64_t>(values.size()) == t.num_elements());
  std::memcpy(t.raw_data(), values.data(), t.byte_size());
  return t;
}

Tensor Tensor::Clone() const {
  Tensor t(dtype_, shape_);
  std::memcpy(t.raw_data(), raw_data(), byte_size());
  return t;
}

Tensor Tensor::Reshaped(Shape shape) const {
  FORNAX_CHECK(shape.NumElements() == num_elements());
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::SliceRows(int64_t begin, int64_t end) const {
  FORNAX_CHECK(shape_.rank() >= 1 && 0 <= begin && begin <= end && end <= shape_.dim(0));
  int64_t row = shape_.NumElements() / (shape_.dim(0) == 0 ? 1 : shape_.dim(0));
  Shape s = shape_;
  s.mutable_dims()[0] = end - begin;
  Tensor t = *this;
  t.shape_ = std::move(s);
  t.offset_ = offset_ + static_cast<size_t>(begin * row) * DTypeSize(dtype_);
  return t;
}

Tensor Tensor::ConcatRows(const std::vector<Tensor>& parts) {
  FORNAX_CHECK(!parts.empty() && parts[0].shape_.rank() >= 1);
  std::vector<int64_t> dims = parts[0].shape_.dims();
  int64_t rows = 0;
  for (const Tensor& part : parts) {
    FORNAX_CHECK(part.dtype_ == parts[0].dtype_ && part.shape_.rank() == parts[0].shape_.rank());
    for (int d = 1; d < part.shape_.rank(); ++d) FORNAX_CHECK(part.shape_.dim(d) == dims[d]);
    rows += part.shape_.dim(0);
  }
  dims[0] = rows;
  Tensor joined(parts[0].dtype_, Shape(std::move(dims)));
  char* out = static_cast<char*>(joined.raw_data());
  for (const Tensor& part : parts) {
    std::memcpy(out, part.raw_data(), part.byte_size());
    out += part.byte_size();
  }
  return joined;
}

double Tensor::GetAsDouble(int64_t i) const {
  switch (dtype_) {
    case DType::kFloat32:
      return data<float>()[i];
    case DType::kFloat16:
      return HalfToFloat(data<uint16_t>()[i]);
    case DType::kBFloat16:
      return BFloat16ToFloat(data<uint16_t>()[i]);
    case DType::kInt32:
      return data<int32_t>()[i];
    case DType::kInt64:
      return static_cast<double>(data<int64_t>()[i]);
    case DType::kUInt8:
      return data<uint8_t>()[i];
    case DType::kBool:
      return data<uint8_t>()[i] != 0 ? 1.0 : 0.0;
  }
  return 0;
}

void Tensor::SetFromDouble(int64_t i, double v) {
  switch (dtype_) {
    case DType::kFloat32:
      data<float>()[i] = static_cast<float>(v);
      break;
    case DType::kFloat16:
      data<uint16_t>()[i] = FloatToHalf(static_cast<float>(v));
      break;
    case DType::kBFloat16:
      data<uint16_t>()[i] = FloatToBFloat16(static_cast<float>(v));
      break;
    case DType::kInt32:
      data<int32_t>()[i] = static_cast<int32_t>(v);
      break;
    case DType::kInt64:
      data<int64_t>()[i] = static_cast<int64_t>(v);
      break;
    case DType::kUInt8:
      data<uint8_t>()[i] = static_cast<uint8_t>(v);
      break;
    case DType::kBool:
      data<uint8_t>()[i] = v != 0 ? 1 : 0;
      break;
  }
}

Tensor Tensor::CastTo(DType dtype) const {
  Tensor out(dtype, shape_);
  int64_t n = num_elements();
  if (dtype == dtype_) {
    std::memcpy(out.raw_data(), raw_data(), byte_size());
  } else if (dtype_ == DType::kUInt8 && dtype == DType::kFloat32) {
    const uint8_t* src = data<uint8_t>();
    float* dst = out.data<float>();
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
  } else {
    for (int64_t i = 0; i < n; ++i) out.SetFromDouble(i, GetAsDouble(i));
  }
  return out;
}

bool Tensor::BitwiseEquals(const Tensor& other) const {
  return dtype_ == other.dtype_ && shape_ == other.shape_ &&
         std::memcmp(raw_data(), other.raw_data(), byte_size()) == 0;
}

std::string Tensor::DebugString(int max_elements) const {
  std::string s = absl::StrCat(std::string(DTypeName(dtype_)), shape_.ToString(), " [");
  int64_t n = num_elements();
  for (int64_t i = 0; i < n && i < max_elements; ++i) {
    absl::StrAppend(&s, i ? ", " : "", GetAsDouble(i));
  }
  if (n > max_elements) absl::StrAppend(&s, ", ...");
  return s + "]";
}

}  // namespace fornax
