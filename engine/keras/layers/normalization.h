// The normalization step BatchNormalization and LayerNormalization share,
// written as Keras's JAX backend writes it:
//   inv = rsqrt(variance + epsilon) * gamma;  y = x * inv + (beta - mean * inv)
#ifndef FORNAX_ENGINE_KERAS_LAYERS_NORMALIZATION_H_
#define FORNAX_ENGINE_KERAS_LAYERS_NORMALIZATION_H_

#include "engine/ir/builder.h"

namespace fornax {

// `gamma` and `beta` may be kNoValue (scale / center off). All statistics
// must broadcast against x.
inline ValueId Normalize(Builder& b, ValueId x, ValueId mean, ValueId variance, ValueId gamma,
                         ValueId beta, double epsilon) {
  ValueId inv = b.Unary(Op::kRsqrt, b.Add(variance, b.Scalar(epsilon)));
  if (gamma != kNoValue) inv = b.Mul(inv, gamma);
  ValueId shift = b.Neg(b.Mul(mean, inv));
  if (beta != kNoValue) shift = b.Add(shift, beta);
  return b.Add(b.Mul(x, inv), shift);
}

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_LAYERS_NORMALIZATION_H_
