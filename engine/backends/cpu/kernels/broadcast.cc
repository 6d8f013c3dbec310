#include "engine/backends/cpu/kernels/broadcast.h"

namespace fornax::cpu {

int64_t BroadcastPlan::outer() const {
  int64_t n = 1;
  for (size_t d = 0; d + 1 < dims.size(); ++d) n *= dims[d];
  return n;
}

void BroadcastPlan::RowOffsets(int64_t row, std::span<int64_t> offsets) const {
  for (int64_t& o : offsets) o = 0;
  for (size_t d = dims.size() - 1; d-- > 0;) {
    int64_t idx = row % dims[d];
    row /= dims[d];
    for (size_t i = 0; i < offsets.size(); ++i) offsets[i] += idx * strides[i][d];
  }
}

BroadcastPlan MakeBroadcastPlan(const Shape& out, std::span<const Shape* const> inputs) {
  const int rank = out.rank();
  // Per-dim strides of each input, right-aligned against `out`.
  std::vector<std::vector<int64_t>> full(inputs.size(),
                                         std::vector<int64_t>(static_cast<size_t>(rank)));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Shape& in = *inputs[i];
    int64_t acc = 1;
    for (int d = rank - 1; d >= 0; --d) {
      int id = in.rank() - rank + d;
      int64_t size = id >= 0 ? in.dim(id) : 1;
      full[i][static_cast<size_t>(d)] = (size == 1 && out.dim(d) != 1) ? 0 : acc;
      acc *= size;
    }
  }
  BroadcastPlan plan;
  plan.strides.resize(inputs.size());
  for (int d = 0; d < rank; ++d) {
    int64_t size = out.dim(d);
    if (size == 1) continue;  // size-1 dims carry no iteration
    bool merge = !plan.dims.empty();
    for (size_t i = 0; merge && i < inputs.size(); ++i) {
      merge = plan.strides[i].back() == full[i][static_cast<size_t>(d)] * size;
    }
    if (merge) {
      plan.dims.back() *= size;
      for (size_t i = 0; i < inputs.size(); ++i)
        plan.strides[i].back() = full[i][static_cast<size_t>(d)];
    } else {
      plan.dims.push_back(size);
      for (size_t i = 0; i < inputs.size(); ++i)
        plan.strides[i].push_back(full[i][static_cast<size_t>(d)]);
    }
  }
  if (plan.dims.empty()) {  // a scalar or all-ones shape: one element
    plan.dims.push_back(1);
    for (auto& s : plan.strides) s.push_back(0);
  }
  return plan;
}

}  // namespace fornax::cpu
