// keras.metrics.categorical_accuracy: 1.0 where argmax(y_true) ==
// argmax(y_pred) along the last axis.
#include "engine/keras/metrics/metric.h"

namespace fornax {

ValueId CategoricalAccuracy(Builder& b, ValueId y_true, ValueId y_pred) {
  ValueId true_class = b.ArgMax(y_true, -1);
  ValueId predicted_class = b.ArgMax(y_pred, -1);
  return b.Cast(b.Binary(Op::kEqual, true_class, predicted_class), DType::kFloat32);
}

}  // namespace fornax
