#include "engine/tensor/shape.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fornax {

bool Shape::HasBatch() const {
  return std::find(dims_.begin(), dims_.end(), kBatch) != dims_.end();
}

Shape Shape::Concrete(int64_t batch) const {
  Shape out = *this;
  for (int64_t& d : out.dims_) {
    if (d == kBatch) d = batch;
  }
  return out;
}

int64_t Shape::NumElements(int64_t batch) const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= (d == kBatch ? batch : d);
  return n;
}

std::string Shape::ToString() const {
  std::vector<std::string> parts;
  for (int64_t d : dims_) parts.push_back(d == kBatch ? "None" : absl::StrCat(d));
  if (parts.size() == 1) return absl::StrCat("(", parts[0], ",)");
  return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
}

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(static_cast<size_t>(rank));
  for (int i = 0; i < rank; ++i) {
    int ia = a.rank() - rank + i;
    int ib = b.rank() - rank + i;
    int64_t da = ia >= 0 ? a.dim(ia) : 1;
    int64_t db = ib >= 0 ? b.dim(ib) : 1;
    int64_t d;
    if (da == db) {
      d = da;
    } else if (da == 1) {
      d = db;
    } else if (db == 1) {
      d = da;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("shapes ", a.ToString(), " and ", b.ToString(), " cannot be broadcast"));
    }
    out[static_cast<size_t>(i)] = d;
  }
  return Shape(std::move(out));
}

std::vector<int64_t> RowMajorStrides(const Shape& s) {
  std::vector<int64_t> strides(static_cast<size_t>(s.rank()));
  int64_t acc = 1;
  for (int i = s.rank() - 1; i >= 0; --i) {
    strides[static_cast<size_t>(i)] = acc;
    acc *= s.dim(i);
  }
  return strides;
}

}  // namespace fornax
