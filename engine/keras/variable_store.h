// VariableStore: every persistent tensor of a training run, in one place:
// model weights, optimizer slots, metric accumulators, the iteration counter.
//
// Graphs refer to a variable by its index here (Builder::Variable / Assign).
// Values are contiguous so an Executable can take them as one span. Paths
// follow Keras's naming ("dense_1/kernel", "adam/dense_1_kernel_momentum").
// Thread-safety: none.
#ifndef FORNAX_ENGINE_KERAS_VARIABLE_STORE_H_
#define FORNAX_ENGINE_KERAS_VARIABLE_STORE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/tensor/tensor.h"

namespace fornax {

enum class VariableKind : uint8_t { kWeight, kOptimizer, kMetric, kCounter };

struct VariableInfo {
  std::string path;  // unique, Keras-style
  VariableKind kind = VariableKind::kWeight;
  bool trainable = true;  // only weights are ever trainable
};

class VariableStore {
 public:
  // Adds a variable holding `value`; returns its index.
  int64_t Add(VariableInfo info, Tensor value);
  int64_t size() const { return static_cast<int64_t>(values_.size()); }

  Tensor& value(int64_t i) { return values_[static_cast<size_t>(i)]; }
  const Tensor& value(int64_t i) const { return values_[static_cast<size_t>(i)]; }
  const VariableInfo& info(int64_t i) const { return infos_[static_cast<size_t>(i)]; }
  std::span<Tensor> values() { return values_; }
  std::optional<int64_t> Find(const std::string& path) const;

 private:
  std::vector<Tensor> values_;
  std::vector<VariableInfo> infos_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_VARIABLE_STORE_H_
