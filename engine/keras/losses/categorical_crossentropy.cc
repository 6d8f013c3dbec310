// keras.losses.categorical_crossentropy, with the JAX backend's math:
//   from_logits: log_prob = log_softmax(x)
//   otherwise:   p = clip(p / sum(p, -1), eps, 1 - eps); log_prob = log(p)
//   loss = -sum(t * log_prob, axis=-1).
// Label smoothing: t (1 - s) + s / num_classes.
#include "engine/keras/losses/loss.h"

namespace fornax {

ValueId CategoricalCrossentropy(Builder& b, ValueId y_true, ValueId y_pred, bool from_logits,
                                double label_smoothing) {
  const DType dtype = b.dtype(y_pred);
  ValueId t = CastLike(b, y_true, y_pred);
  if (label_smoothing != 0.0) {
    const double num_classes = static_cast<double>(b.shape(t).dim(b.rank(t) - 1));
    t = b.Add(b.Mul(t, b.Scalar(1.0 - label_smoothing, dtype)),
              b.Scalar(label_smoothing / num_classes, dtype));
  }
  ValueId log_prob;
  if (from_logits) {
    log_prob = b.LogSoftmax(y_pred, -1);
  } else {
    ValueId p = b.Div(y_pred, b.Sum(y_pred, {-1}, /*keepdims=*/true));
    log_prob = b.Log(Clip(b, p, kKerasEpsilon, 1.0 - kKerasEpsilon));
  }
  return b.Neg(b.Sum(b.Mul(t, log_prob), {-1}));
}

}  // namespace fornax
