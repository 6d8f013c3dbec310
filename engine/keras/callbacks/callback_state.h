// Exact JSON forms for the training state a checkpoint keeps in its
// metadata.json (engine/job/epoch_position.h): callbacks' best values and
// weights, an epoch's running metrics. A double is the hex of its IEEE-754
// bits ("3fb999999999999a" for 0.1), a tensor {"dtype": "float32", "shape":
// [2, 3], "bytes": <its bytes, a JSON binary value>}, so every value (NaN, -0
// too) comes back bit for bit: decimal text has no NaN and is one rounding
// away from it. JSON text has no binary values: SaveKerasArchive moves each
// "bytes" into the archive member fornax/tensors.bin and ReadKerasArchive
// puts it back (keras_archive.h). A tensor with "hex" (its bytes as hex
// text, what archives kept before fornax/tensors.bin) still reads.
// Errors are InvalidArgument "<field>: expected ..."; the caller says where
// the field is.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_STATE_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_STATE_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/tensor/tensor.h"
#include "nlohmann/json.hpp"

namespace fornax {

nlohmann::json TensorStateJson(const Tensor& value);
absl::StatusOr<Tensor> ParseTensorState(const nlohmann::json& json, const std::string& field);

// nullopt is null.
nlohmann::json DoubleStateJson(std::optional<double> value);
absl::StatusOr<std::optional<double>> ParseDoubleState(const nlohmann::json& json,
                                                       const std::string& field);

// state[field], an integer in [0, 2^30].
absl::StatusOr<int> ParseCountState(const nlohmann::json& state, const std::string& field);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_STATE_H_
