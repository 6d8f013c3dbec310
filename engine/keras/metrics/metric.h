// Metric: Keras's stateful metrics, with their state in the VariableStore.
//
// Every metric here is a keras.metrics.Mean at heart: two float32 scalar
// variables "total" and "count" updated in-graph (Builder::Assign) by the
// train or eval step, reset and read on the host. A MeanMetricWrapper turns a
// per-sample function (y_true, y_pred) -> values into a metric, as Keras does
// for accuracy, mae and mse; the loss tracker is a plain Mean updated with
// the batch loss weighted by the batch size.
// Thread-safety: none.
#ifndef FORNAX_ENGINE_KERAS_METRICS_METRIC_H_
#define FORNAX_ENGINE_KERAS_METRICS_METRIC_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"
#include "engine/keras/variable_store.h"
#include "nlohmann/json.hpp"

namespace fornax {

// keras.metrics.Mean.
class Metric {
 public:
  explicit Metric(std::string name) : name_(std::move(name)) {}
  virtual ~Metric() = default;
  Metric(const Metric&) = delete;
  Metric& operator=(const Metric&) = delete;

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  // Keras's _direction: true when larger is better (accuracy).
  virtual bool higher_is_better() const { return false; }

  // Adds "<prefix><name>/total" and ".../count" (float32 scalars, kMetric).
  void CreateVariables(VariableStore* store, const std::string& prefix = "");
  // Mean.update_state(values, sample_weight): values of rank >= 1 are first
  // averaged over their non-batch axes; total += sum(values * weight),
  // count += sum(weight) (the number of samples without a weight). A scalar
  // `sample_weight` multiplies a scalar value (the loss tracker's batch size).
  // REQUIRES: CreateVariables succeeded.
  void UpdateState(Builder& b, ValueId values, ValueId sample_weight = kNoValue) const;
  // Metric-specific update from labels and predictions; plain Mean treats
  // y_pred as the values.
  virtual void Update(Builder& b, ValueId y_true, ValueId y_pred) const;

  void Reset(VariableStore* store) const;
  // total / count in float32 (0 when count is 0, as divide_no_nan).
  double Result(const VariableStore& store) const;

 private:
  std::string name_;
  int64_t total_index_ = -1;
  int64_t count_index_ = -1;
};

// (y_true, y_pred) -> per-sample values.
using MetricFn = std::function<ValueId(Builder& b, ValueId y_true, ValueId y_pred)>;

// keras.metrics.MeanMetricWrapper.
class MeanMetricWrapper : public Metric {
 public:
  MeanMetricWrapper(std::string name, MetricFn fn, bool higher_is_better)
      : Metric(std::move(name)), fn_(std::move(fn)), higher_is_better_(higher_is_better) {}
  bool higher_is_better() const override { return higher_is_better_; }
  void Update(Builder& b, ValueId y_true, ValueId y_pred) const override;

 private:
  MetricFn fn_;
  bool higher_is_better_;
};

// Resolves a serialized metric: "accuracy"/"acc" (binary, sparse or
// categorical from the shapes, as compile_utils.get_metric), "mae", "mse",
// their long names and class names, or {"class_name": ..., "config": {...}}.
// The name in logs is the string identifier itself, or the config's "name".
absl::StatusOr<std::unique_ptr<Metric>> MetricFromConfig(const nlohmann::json& config,
                                                         const Shape& y_true_shape,
                                                         const Shape& y_pred_shape);

// The per-sample functions (keras.metrics.<name>), one per file.
ValueId BinaryAccuracy(Builder& b, ValueId y_true, ValueId y_pred, double threshold);
ValueId CategoricalAccuracy(Builder& b, ValueId y_true, ValueId y_pred);
ValueId SparseCategoricalAccuracy(Builder& b, ValueId y_true, ValueId y_pred);
// mae and mse are the losses' functions (engine/keras/losses/loss.h).

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_METRICS_METRIC_H_
