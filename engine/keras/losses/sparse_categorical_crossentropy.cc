// keras.losses.sparse_categorical_crossentropy, with the JAX backend's math:
// labels (int class indices, a trailing dim of 1 squeezed) become one-hot
// rows and the rest is categorical_crossentropy's:
//   from_logits: log_prob = log_softmax(x)
//   otherwise:   log_prob = log(clip(p / sum(p, -1), eps, 1 - eps))
//   loss = -sum(one_hot(t) * log_prob, axis=-1).
#include "engine/keras/losses/loss.h"

namespace fornax {

ValueId SparseCategoricalCrossentropy(Builder& b, ValueId y_true, ValueId y_pred,
                                      bool from_logits) {
  if (b.rank(y_true) == b.rank(y_pred) && b.shape(y_true).dim(b.rank(y_true) - 1) == 1) {
    y_true = SqueezeLast(b, y_true);
  }
  if (IsFloating(b.dtype(y_true))) y_true = b.Cast(y_true, DType::kInt32);
  ValueId log_prob;
  if (from_logits) {
    log_prob = b.LogSoftmax(y_pred, -1);
  } else {
    ValueId p = b.Div(y_pred, b.Sum(y_pred, {-1}, /*keepdims=*/true));
    log_prob = b.Log(Clip(b, p, kKerasEpsilon, 1.0 - kKerasEpsilon));
  }
  const int64_t depth = b.shape(y_pred).dim(b.rank(y_pred) - 1);
  ValueId one_hot = CastLike(b, b.OneHot(y_true, depth), y_pred);
  return b.Neg(b.Sum(b.Mul(one_hot, log_prob), {-1}));
}

}  // namespace fornax
