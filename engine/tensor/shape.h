// Tensor shapes with an optional symbolic batch dimension.
//
// A dimension is either a size >= 0 or kBatch, the batch size that is only
// known when a step runs (Keras prints it as None). Plans are compiled once for
// a symbolic batch and run for any concrete batch up to the planned capacity,
// which is why a short last batch never forces a retrace.
#ifndef FORNAX_ENGINE_TENSOR_SHAPE_H_
#define FORNAX_ENGINE_TENSOR_SHAPE_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fornax {

inline constexpr int64_t kBatch = -1;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t dim(int i) const { return dims_[static_cast<size_t>(i)]; }
  int64_t operator[](int i) const { return dim(i); }
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t>& mutable_dims() { return dims_; }

  bool HasBatch() const;
  // The shape with kBatch replaced by `batch`.
  Shape Concrete(int64_t batch) const;
  // Product of dims, with kBatch counted as `batch`.
  int64_t NumElements(int64_t batch = 1) const;
  // "(None, 28, 28, 1)", Keras's notation.
  std::string ToString() const;

  friend bool operator==(const Shape& a, const Shape& b) { return a.dims_ == b.dims_; }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const Shape& s) {
    return H::combine(std::move(h), s.dims_);
  }

 private:
  std::vector<int64_t> dims_;
};

// NumPy broadcasting of two shapes. kBatch broadcasts against 1 and itself;
// kBatch against a concrete size other than 1 is an error.
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

// Row-major strides (in elements) of a concrete shape.
std::vector<int64_t> RowMajorStrides(const Shape& concrete);

}  // namespace fornax

#endif  // FORNAX_ENGINE_TENSOR_SHAPE_H_
