// keras.losses.mean_squared_error: mean(square(y_true - y_pred), axis=-1).
#include "engine/keras/losses/loss.h"

namespace fornax {

ValueId MeanSquaredError(Builder& b, ValueId y_true, ValueId y_pred) {
  y_true = CastLike(b, y_true, y_pred);
  SqueezeOrExpandToSameRank(b, &y_true, &y_pred);
  return b.Mean(b.Square(b.Sub(y_true, y_pred)), {-1});
}

}  // namespace fornax
