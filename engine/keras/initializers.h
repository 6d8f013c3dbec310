// Keras initializers (keras.initializers) as Keras serializes them:
//   {"module": "keras.initializers", "class_name": "GlorotUniform",
//    "config": {"seed": null, ...}}
// or a string identifier ("glorot_uniform", "zeros").
//
// Supported: Zeros, Ones, Constant, Identity, RandomUniform, RandomNormal,
// TruncatedNormal, VarianceScaling, GlorotUniform/Normal, HeUniform/Normal,
// LecunUniform/Normal, Orthogonal. Fan computation, scales and the
// truncation at two standard deviations follow Keras. Values come from
// Fornax's own portable counter-based generator (SplitMix64 + Box-Muller), so
// they are identical on every platform for a given (seed, shape) but are not
// the numbers JAX would draw. With "seed": null the caller's fallback seed is
// used (Model derives one per variable from the run seed).
// Thread-safety: initializers are immutable.
#ifndef FORNAX_ENGINE_KERAS_INITIALIZERS_H_
#define FORNAX_ENGINE_KERAS_INITIALIZERS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor/tensor.h"
#include "nlohmann/json.hpp"

namespace fornax {

class Initializer {
 public:
  virtual ~Initializer() = default;
  // Keras's class name ("GlorotUniform").
  virtual std::string class_name() const = 0;
  // A fresh tensor of `shape`; `fallback_seed` is used when the config has no
  // seed. InvalidArgument when the shape does not suit the initializer.
  virtual absl::StatusOr<Tensor> Create(const Shape& shape, DType dtype,
                                        uint64_t fallback_seed) const = 0;
};

// `context` prefixes errors ("layer 'dense_1': argument `kernel_initializer`").
absl::StatusOr<std::shared_ptr<const Initializer>> GetInitializer(const nlohmann::json& spec,
                                                                  const std::string& context);

// The portable generator behind the random initializers: element `i` of
// stream `seed`. Exposed for tests and for other seeded host-side code.
double UniformAt(uint64_t seed, uint64_t i);  // in [0, 1)
double NormalAt(uint64_t seed, uint64_t i);   // standard normal
// Mixes two 64-bit values into a seed (SplitMix64 finalizer).
uint64_t MixSeed(uint64_t a, uint64_t b);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_INITIALIZERS_H_
