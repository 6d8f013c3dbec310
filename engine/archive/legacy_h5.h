// Legacy full-model HDF5 files (Keras 2's `model.save("x.h5")`, which Keras
// 3 still writes for a .h5 path; docs/keras-format-notes.md §7): the root
// attributes model_config (the model's JSON) and training_config (compile's
// arguments, with "optimizer_config"), model_weights/<layer> groups whose
// "weight_names" attribute lists that layer's datasets in creation order,
// and optimizer_weights likewise. Dataset paths come from weight_names
// ("mlp/dense/kernel" in Keras 3, "dense/kernel:0" in tf.keras 2), never
// from a fixed depth.
#ifndef FORNAX_ENGINE_ARCHIVE_LEGACY_H5_H_
#define FORNAX_ENGINE_ARCHIVE_LEGACY_H5_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/archive/keras_archive.h"

namespace fornax {

// The file as a KerasArchive: `config` is model_config with a
// "compile_config" made from training_config ({} without one), `weights`
// the whole file. `image` is the file's bytes; `path` names it in messages.
absl::StatusOr<KerasArchive> ReadLegacyH5(std::string image, const std::string& path);

// Loads every layer's weights into `trainer` (layers matched by name; a
// missing, extra or mismatched variable is an error naming the group, layer
// and variable). The optimizer's state loads when the file has it and it
// matches the optimizer variable for variable (Keras 3's legacy layout);
// otherwise (tf.keras 2's layout, no state, another optimizer) the optimizer
// starts fresh and one warning line on stderr says why.
absl::Status LoadLegacyWeights(const KerasArchive& archive, const std::string& path,
                               Trainer& trainer);

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_LEGACY_H5_H_
