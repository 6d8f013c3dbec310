// Keras operations applied to symbolic tensors in a Functional model.
//
// keras.ops calls on KerasTensors (ops.where(mask, x, 0.0), ops.cast(m,
// "float32"), x + 1.0, ops.concatenate([a, b]), ops.sum(x, axis=1), ...)
// are saved in config.json as entries of "layers" whose "module" is
// keras.src.ops.<numpy|core|nn|math> and whose class is the operation (Where,
// Cast, Add, ...). To Keras they are not layers: they have no weights and no
// group in model.weights.h5. Fornax runs each as a weightless Layer that
// emits the operation's math with Keras's dtype rules (a bool or int operand
// of a float function becomes float32; Python scalars are weakly typed, so
// int32 + 1 stays int32 and int32 + 1.0 is float32). Arguments that are not
// tensors (the 0.0 of ops.where(mask, x, 0.0)) come from the entry's single
// inbound node and are part of the operation.
// Thread-safety: as Layer.
#ifndef FORNAX_ENGINE_KERAS_LAYERS_OPERATION_H_
#define FORNAX_ENGINE_KERAS_LAYERS_OPERATION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/layers/layer.h"
#include "nlohmann/json.hpp"

namespace fornax {

// True for a "layers" entry that is a Keras operation (module keras.src.ops.*).
bool IsKerasOperation(const nlohmann::json& layer_json);

// The operation `layer_json` describes, bound to the constant arguments of its
// inbound node; Call takes its tensor arguments in the order they appear
// there. InvalidArgument names the entry and the operation when it is unknown
// or called in a way Fornax does not support.
absl::StatusOr<std::unique_ptr<Layer>> CreateOperation(const nlohmann::json& layer_json);

// Class names CreateOperation accepts, sorted.
std::vector<std::string> SupportedOperations();

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_LAYERS_OPERATION_H_
