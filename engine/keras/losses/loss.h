// Loss: one of Keras's losses, emitted as IR so it compiles into the train
// step (keras/src/losses/losses.py, the JAX backend's math).
//
// A Loss is a per-sample function (y_true, y_pred) -> values, mean over the
// last axis as Keras's loss functions do, plus Keras's reduction of those
// values to a scalar ("sum_over_batch_size": sum / element count, computed
// from the runtime batch so a short last batch is weighted right; "sum").
// Losses are built from Keras's serialized forms: a string ("mse",
// "sparse_categorical_crossentropy") or {"class_name": "Huber", "config":
// {"delta": 2.0, "reduction": "sum_over_batch_size"}}.
// Probabilities are clipped to [1e-7, 1 - 1e-7] when not from_logits, as in
// keras.backend.epsilon().
// Thread-safety: immutable after construction.
#ifndef FORNAX_ENGINE_KERAS_LOSSES_LOSS_H_
#define FORNAX_ENGINE_KERAS_LOSSES_LOSS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"
#include "nlohmann/json.hpp"

namespace fornax {

// Keras's backend.epsilon().
inline constexpr double kKerasEpsilon = 1e-7;

enum class Reduction { kSumOverBatchSize, kSum };

// (y_true, y_pred) -> per-sample values (the batch-shaped tensor Keras's
// loss functions return).
using LossFn = std::function<ValueId(Builder& b, ValueId y_true, ValueId y_pred)>;

class Loss {
 public:
  // `sparse_labels`: y_true holds class indices (int32) instead of values
  // shaped like y_pred.
  Loss(std::string name, LossFn fn, Reduction reduction, bool sparse_labels)
      : name_(std::move(name)),
        fn_(std::move(fn)),
        reduction_(reduction),
        sparse_labels_(sparse_labels) {}

  const std::string& name() const { return name_; }
  bool sparse_labels() const { return sparse_labels_; }
  // The dtype labels are fed in: int32 for sparse losses, else float32.
  DType label_dtype() const { return sparse_labels_ ? DType::kInt32 : DType::kFloat32; }

  // Per-sample values, unreduced. Like LossFunctionWrapper.call, first
  // squeezes or expands y_true/y_pred to the same rank.
  ValueId Values(Builder& b, ValueId y_true, ValueId y_pred) const;
  // The reduced float32 scalar loss.
  ValueId Call(Builder& b, ValueId y_true, ValueId y_pred) const;

 private:
  std::string name_;
  LossFn fn_;
  Reduction reduction_;
  bool sparse_labels_;
};

// Resolves a serialized loss. "crossentropy"/"ce" need the label and
// prediction shapes (without the batch dim) to pick binary, sparse or
// categorical, as keras/src/trainers/compile_utils.py does.
absl::StatusOr<std::unique_ptr<Loss>> LossFromConfig(const nlohmann::json& config,
                                                     const Shape& y_true_shape,
                                                     const Shape& y_pred_shape);

// Keras's per-sample loss functions (keras.losses.<name>), one per file.
ValueId MeanSquaredError(Builder& b, ValueId y_true, ValueId y_pred);
ValueId MeanAbsoluteError(Builder& b, ValueId y_true, ValueId y_pred);
ValueId Huber(Builder& b, ValueId y_true, ValueId y_pred, double delta);
ValueId BinaryCrossentropy(Builder& b, ValueId y_true, ValueId y_pred, bool from_logits,
                           double label_smoothing);
ValueId CategoricalCrossentropy(Builder& b, ValueId y_true, ValueId y_pred, bool from_logits,
                                double label_smoothing);
ValueId SparseCategoricalCrossentropy(Builder& b, ValueId y_true, ValueId y_pred, bool from_logits);

// Shared helpers (keras/src/losses/loss.py).
// Squeezes or expands the last dim of one side when the ranks differ by one
// and that dim is 1, as squeeze_or_expand_to_same_rank.
void SqueezeOrExpandToSameRank(Builder& b, ValueId* x1, ValueId* x2);
// x with its last axis (of size 1) removed.
ValueId SqueezeLast(Builder& b, ValueId x);
// x with a trailing axis of size 1.
ValueId ExpandLast(Builder& b, ValueId x);
// clip(x, lo, hi) as jnp.clip: min(max(x, lo), hi).
ValueId Clip(Builder& b, ValueId x, double lo, double hi);
// y_true cast to y_pred's dtype when they differ.
ValueId CastLike(Builder& b, ValueId x, ValueId like);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_LOSSES_LOSS_H_
