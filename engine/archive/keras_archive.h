// Keras 3 `.keras` archives (docs: /work/shared/docs/keras-format.md, checked
// against Keras 3.15): a zip of metadata.json, config.json and
// model.weights.h5, members stored uncompressed in that order.
//
// config.json is the model's config (as Keras's to_json wrote it) with
// "build_config" and a "compile_config" serialized from the Trainer's
// CompileConfig the way compile() records it. model.weights.h5 holds, as
// Keras's saving_lib walks a model: "/vars" (empty, the model's own), then
// "layers/<class in snake_case>[_<n>]/vars/<i>" for each layer in the
// config's "layers" order (Sequential leaves out its InputLayer), variables
// in creation order, and "optimizer/vars/<i>" with the optimizer's variables
// in Keras's order (iteration, learning_rate, slots). Every vars group has
// the attribute "name" (the layer's or optimizer's name), as Keras 3.6+.
#ifndef FORNAX_ENGINE_ARCHIVE_KERAS_ARCHIVE_H_
#define FORNAX_ENGINE_ARCHIVE_KERAS_ARCHIVE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/keras/models/trainer.h"
#include "nlohmann/json.hpp"

namespace fornax {

// Writes `trainer`'s model, compile config, weights and optimizer state to
// `path` (replaced if it exists; libzip writes a temporary file and renames
// it, so a failed save leaves no half-written archive).
absl::Status SaveKerasArchive(const std::string& path, Trainer& trainer);

// The config.json object SaveKerasArchive writes (exposed for tests).
absl::StatusOr<nlohmann::json> KerasArchiveConfig(const Trainer& trainer);

// Keras's naming.to_snake_case: "BatchNormalization" -> "batch_normalization",
// "Conv2D" -> "conv2d".
std::string KerasSnakeCase(const std::string& class_name);

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_KERAS_ARCHIVE_H_
