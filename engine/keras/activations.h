// Keras activations (keras.activations), built from IR primitives.
//
// Every identifier keras.activations.get() accepts as a string is here:
// relu, relu6, elu, selu, gelu (Keras's default approximate=False: the erf
// form), silu/swish, sigmoid, hard_sigmoid, hard_silu/hard_swish, tanh,
// softplus, softsign, exponential, linear, softmax, log_softmax, leaky_relu,
// mish, celu, glu, squareplus, sparse_plus, hard_tanh, tanh_shrink,
// log_sigmoid, sparse_sigmoid, soft_shrink, hard_shrink and sparsemax, each
// with Keras's default arguments and the JAX backend's formulas. `threshold`
// is refused: Keras itself cannot call it without arguments.
// Thread-safety: activations are immutable.
#ifndef FORNAX_ENGINE_KERAS_ACTIVATIONS_H_
#define FORNAX_ENGINE_KERAS_ACTIVATIONS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"
#include "nlohmann/json.hpp"

namespace fornax {

struct Activation {
  std::string name;  // Keras's identifier, "linear" for none
  std::function<ValueId(Builder&, ValueId)> apply;

  bool is_linear() const { return name == "linear"; }
  ValueId operator()(Builder& b, ValueId x) const { return apply(b, x); }
};

// Resolves an activation config: a string ("relu"), null (linear), or the
// serialized dict form {"class_name": "function", "config": "relu", ...}.
// `context` prefixes errors ("layer 'dense_1'").
absl::StatusOr<Activation> GetActivation(const nlohmann::json& spec, const std::string& context);

// The identifiers GetActivation accepts, sorted.
std::vector<std::string> ActivationNames();

// Shared building blocks (also used by the ReLU and LeakyReLU layers).
// Keras's relu(x, negative_slope, max_value, threshold); max_value < 0 means none.
ValueId KerasRelu(Builder& b, ValueId x, double negative_slope, double max_value, double threshold);
ValueId LeakyRelu(Builder& b, ValueId x, double negative_slope);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_ACTIVATIONS_H_
