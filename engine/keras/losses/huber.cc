// keras.losses.huber: quadratic for |error| <= delta, linear beyond:
//   mean(where(|e| <= delta, 0.5 e^2, delta |e| - 0.5 delta^2), axis=-1).
#include "engine/keras/losses/loss.h"

namespace fornax {

ValueId Huber(Builder& b, ValueId y_true, ValueId y_pred, double delta) {
  y_true = CastLike(b, y_true, y_pred);
  SqueezeOrExpandToSameRank(b, &y_true, &y_pred);
  const DType dtype = b.dtype(y_pred);
  ValueId error = b.Sub(y_pred, y_true);
  ValueId abs_error = b.Abs(error);
  ValueId delta_v = b.Scalar(delta, dtype);
  ValueId half = b.Scalar(0.5, dtype);
  ValueId quadratic = b.Mul(half, b.Square(error));
  ValueId linear = b.Sub(b.Mul(delta_v, abs_error), b.Mul(half, b.Square(delta_v)));
  ValueId in_quadratic = b.Binary(Op::kLessEqual, abs_error, delta_v);
  return b.Mean(b.Where(in_quadratic, quadratic, linear), {-1});
}

}  // namespace fornax
