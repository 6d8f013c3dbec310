// keras.losses.binary_crossentropy, with the JAX backend's math:
//   from_logits: -t log_sigmoid(x) - (1 - t) log_sigmoid(-x)
//                = t softplus(-x) + (1 - t) softplus(x)
//   otherwise:   p = clip(p, eps, 1 - eps); -(t log p + (1 - t) log(1 - p))
// then mean over the last axis. Label smoothing: t (1 - s) + 0.5 s.
#include "engine/keras/losses/loss.h"

namespace fornax {

ValueId BinaryCrossentropy(Builder& b, ValueId y_true, ValueId y_pred, bool from_logits,
                           double label_smoothing) {
  const DType dtype = b.dtype(y_pred);
  ValueId t = CastLike(b, y_true, y_pred);
  if (label_smoothing != 0.0) {
    t = b.Add(b.Mul(t, b.Scalar(1.0 - label_smoothing, dtype)),
              b.Scalar(0.5 * label_smoothing, dtype));
  }
  ValueId one = b.Scalar(1.0, dtype);
  ValueId one_minus_t = b.Sub(one, t);
  ValueId elementwise;
  if (from_logits) {
    elementwise =
        b.Add(b.Mul(t, b.Softplus(b.Neg(y_pred))), b.Mul(one_minus_t, b.Softplus(y_pred)));
  } else {
    ValueId p = Clip(b, y_pred, kKerasEpsilon, 1.0 - kKerasEpsilon);
    ValueId bce = b.Add(b.Mul(t, b.Log(p)), b.Mul(one_minus_t, b.Log(b.Sub(one, p))));
    elementwise = b.Neg(bce);
  }
  return b.Mean(elementwise, {-1});
}

}  // namespace fornax
