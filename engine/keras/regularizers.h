// Keras weight regularizers (keras.regularizers): L1, L2, L1L2.
//
// Parsed from {"class_name": "L2", "config": {"l2": 0.01}} or a string
// ("l1", "l2", "l1_l2"); the penalty is Keras's
//   l1 * sum(|x|) + l2 * sum(x^2)
// emitted as one scalar loss. OrthogonalRegularizer and custom regularizers
// are refused.
// Thread-safety: immutable.
#ifndef FORNAX_ENGINE_KERAS_REGULARIZERS_H_
#define FORNAX_ENGINE_KERAS_REGULARIZERS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"
#include "nlohmann/json.hpp"

namespace fornax {

struct Regularizer {
  double l1 = 0.0;
  double l2 = 0.0;

  // The scalar penalty for `x`.
  ValueId Apply(Builder& b, ValueId x) const;
};

// std::nullopt for null. `context` prefixes errors ("layer 'dense_1': argument
// `kernel_regularizer`").
absl::StatusOr<std::optional<Regularizer>> GetRegularizer(const nlohmann::json& spec,
                                                          const std::string& context);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_REGULARIZERS_H_
