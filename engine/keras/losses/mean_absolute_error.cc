// keras.losses.mean_absolute_error: mean(abs(y_true - y_pred), axis=-1).
#include "engine/keras/losses/loss.h"

namespace fornax {

ValueId MeanAbsoluteError(Builder& b, ValueId y_true, ValueId y_pred) {
  y_true = CastLike(b, y_true, y_pred);
  SqueezeOrExpandToSameRank(b, &y_true, &y_pred);
  return b.Mean(b.Abs(b.Sub(y_true, y_pred)), {-1});
}

}  // namespace fornax
