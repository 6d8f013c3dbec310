#include "engine/keras/metrics/metric.h"

#include <numeric>
#include <vector>

namespace fornax {

void Metric::CreateVariables(VariableStore* store, const std::string& prefix) {
  const std::string path = prefix + name_;
  total_index_ =
      store->Add({path + "/total", VariableKind::kMetric, false}, Tensor(DType::kFloat32, Shape{}));
  count_index_ =
      store->Add({path + "/count", VariableKind::kMetric, false}, Tensor(DType::kFloat32, Shape{}));
}

void Metric::UpdateState(Builder& b, ValueId values, ValueId sample_weight) const {
  if (!b.ok()) return;
  if (b.dtype(values) != DType::kFloat32) values = b.Cast(values, DType::kFloat32);
  ValueId total = b.Variable(total_index_, DType::kFloat32, Shape{}, name_ + "/total");
  ValueId count = b.Variable(count_index_, DType::kFloat32, Shape{}, name_ + "/count");
  ValueId batch_total;
  ValueId num_samples;
  if (b.rank(values) == 0) {
    if (sample_weight != kNoValue) {
      batch_total = b.Mul(values, sample_weight);
      num_samples = sample_weight;
    } else {
      batch_total = values;
      num_samples = b.Scalar(1.0);
    }
  } else {
    // reduce_to_samplewise_values: average every sample over its other axes.
    if (b.rank(values) > 1) {
      std::vector<int64_t> axes(static_cast<size_t>(b.rank(values) - 1));
      std::iota(axes.begin(), axes.end(), 1);
      values = b.Mean(values, axes);
    }
    batch_total = b.SumAll(values);
    num_samples = b.DimSize(values, 0);
  }
  b.Assign(total_index_, b.Add(total, batch_total));
  b.Assign(count_index_, b.Add(count, num_samples));
}

void Metric::Update(Builder& b, ValueId /*y_true*/, ValueId y_pred) const {
  UpdateState(b, y_pred);
}

void MeanMetricWrapper::Update(Builder& b, ValueId y_true, ValueId y_pred) const {
  ValueId values = fn_(b, y_true, y_pred);
  if (!b.ok()) return;
  UpdateState(b, values);
}

void Metric::Reset(VariableStore* store) const {
  store->value(total_index_).data<float>()[0] = 0.0f;
  store->value(count_index_).data<float>()[0] = 0.0f;
}

double Metric::Result(const VariableStore& store) const {
  const float total = store.value(total_index_).data<float>()[0];
  const float count = store.value(count_index_).data<float>()[0];
  return count == 0.0f ? 0.0 : static_cast<double>(total / count);
}

}  // namespace fornax
