// keras.metrics.sparse_categorical_accuracy: 1.0 where the class index
// y_true (a trailing dim of 1 squeezed) == argmax(y_pred, -1). Both sides are
// compared as y_pred's float dtype, as Keras converts y_true to it.
#include "engine/keras/losses/loss.h"
#include "engine/keras/metrics/metric.h"

namespace fornax {

ValueId SparseCategoricalAccuracy(Builder& b, ValueId y_true, ValueId y_pred) {
  if (b.rank(y_true) == b.rank(y_pred) && b.shape(y_true).dim(b.rank(y_true) - 1) == 1) {
    y_true = SqueezeLast(b, y_true);
  }
  y_true = CastLike(b, y_true, y_pred);
  ValueId predicted = b.Cast(b.ArgMax(y_pred, -1), b.dtype(y_pred));
  ValueId matches = b.Cast(b.Binary(Op::kEqual, y_true, predicted), DType::kFloat32);
  if (b.rank(matches) > 1 && b.shape(matches).dim(b.rank(matches) - 1) == 1) {
    matches = SqueezeLast(b, matches);
  }
  return matches;
}

}  // namespace fornax
