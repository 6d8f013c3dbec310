// keras.metrics.binary_accuracy: 1.0 where (y_pred > threshold) == y_true.
#include "engine/keras/losses/loss.h"
#include "engine/keras/metrics/metric.h"

namespace fornax {

ValueId BinaryAccuracy(Builder& b, ValueId y_true, ValueId y_pred, double threshold) {
  SqueezeOrExpandToSameRank(b, &y_true, &y_pred);
  ValueId predicted = b.Binary(Op::kGreater, y_pred, b.Scalar(threshold, b.dtype(y_pred)));
  predicted = b.Cast(predicted, b.dtype(y_true));
  return b.Cast(b.Binary(Op::kEqual, y_true, predicted), DType::kFloat32);
}

}  // namespace fornax
