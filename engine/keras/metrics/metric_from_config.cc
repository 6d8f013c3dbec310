// MetricFromConfig: Keras's metric identifiers and class configs, resolved as
// keras/src/trainers/compile_utils.get_metric does.
#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"
#include "engine/keras/losses/loss.h"
#include "engine/keras/metrics/metric.h"

namespace fornax {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Metric>> MetricFromConfig(const nlohmann::json& config,
                                                         const Shape& y_true_shape,
                                                         const Shape& y_pred_shape) {
  FORNAX_ASSIGN_OR_RETURN(SerializedObject object, ParseSerialized(config, "metric"));
  std::string id = object.class_name;
  if (object.from_string && (Lower(id) == "accuracy" || Lower(id) == "acc")) {
    const int64_t t_last = y_true_shape.rank() > 0 ? y_true_shape.dim(y_true_shape.rank() - 1) : 1;
    const int64_t p_last = y_pred_shape.rank() > 0 ? y_pred_shape.dim(y_pred_shape.rank() - 1) : 1;
    const bool is_binary = p_last == 1;
    const bool is_sparse = y_true_shape.rank() < y_pred_shape.rank() || (t_last == 1 && p_last > 1);
    id = is_binary   ? "BinaryAccuracy"
         : is_sparse ? "SparseCategoricalAccuracy"
                     : "CategoricalAccuracy";
  }
  const ConfigReader reader(object.config, absl::StrCat("metric '", object.class_name, "'"));
  // A string identifier is the name in logs; a class config carries its own.
  auto name_or = [&](const char* default_name) -> absl::StatusOr<std::string> {
    return reader.String("name", object.from_string ? object.class_name : default_name);
  };
  auto make = [](std::string name, MetricFn fn, bool up) -> std::unique_ptr<Metric> {
    return std::make_unique<MeanMetricWrapper>(std::move(name), std::move(fn), up);
  };

  if (id == "BinaryAccuracy" || id == "binary_accuracy") {
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("binary_accuracy"));
    FORNAX_ASSIGN_OR_RETURN(double threshold, reader.Double("threshold", 0.5));
    return make(
        name,
        [threshold](Builder& b, ValueId t, ValueId p) {
          return BinaryAccuracy(b, t, p, threshold);
        },
        true);
  }
  if (id == "CategoricalAccuracy" || id == "categorical_accuracy") {
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("categorical_accuracy"));
    return make(name, CategoricalAccuracy, true);
  }
  if (id == "SparseCategoricalAccuracy" || id == "sparse_categorical_accuracy") {
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("sparse_categorical_accuracy"));
    return make(name, SparseCategoricalAccuracy, true);
  }
  if (id == "Accuracy") {  // keras.metrics.Accuracy: exact equality
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("accuracy"));
    return make(
        name,
        [](Builder& b, ValueId t, ValueId p) {
          SqueezeOrExpandToSameRank(b, &t, &p);
          return b.Cast(b.Binary(Op::kEqual, CastLike(b, t, p), p), DType::kFloat32);
        },
        true);
  }
  if (id == "mae" || id == "MAE" || id == "mean_absolute_error" || id == "MeanAbsoluteError") {
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("mean_absolute_error"));
    return make(name, MeanAbsoluteError, false);
  }
  if (id == "mse" || id == "MSE" || id == "mean_squared_error" || id == "MeanSquaredError") {
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("mean_squared_error"));
    return make(name, MeanSquaredError, false);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "metric: unknown metric '", object.class_name,
      "'; expected one of accuracy (acc), binary_accuracy, categorical_accuracy, "
      "sparse_categorical_accuracy, mae (mean_absolute_error), mse (mean_squared_error), "
      "or their class names (BinaryAccuracy, MeanAbsoluteError, ...)"));
}

}  // namespace fornax
