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

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/archive/h5_reader.h"
#include "engine/keras/models/trainer.h"
#include "nlohmann/json.hpp"

namespace fornax {

// The member that holds the bytes of the tensors in metadata.json's "fornax"
// entry (callback_state.h), one after the other. Each tensor's "bytes" in
// metadata.json is then {"member": "fornax/tensors.bin", "offset": <in the
// member>, "size": <bytes>, "crc32": <zlib's crc32 of them>}. Binary, not
// hex text in metadata.json, which doubled them (EarlyStopping's best
// weights: a Fashion-MNIST MLP checkpoint 4.73 MB instead of 2.85). Keras 3
// loads an archive with an extra member with no warning; having over three
// members, it extracts the archive to a temporary directory for assets
// (saving_lib's DiskIOStore), which finds none.
inline constexpr char kFornaxTensorsMember[] = "fornax/tensors.bin";

// Writes `trainer`'s model, compile config, weights and optimizer state to
// `path` (replaced if it exists; libzip writes a temporary file and renames
// it, so a failed save leaves no half-written archive). A non-null
// `fornax_state` (Fornax's own training state, e.g. where in an epoch a
// checkpoint was taken) goes into metadata.json under "fornax", its binary
// values into kFornaxTensorsMember (written only when there are some): Keras
// never reads either, so the archive stays an ordinary Keras 3 archive.
absl::Status SaveKerasArchive(const std::string& path, Trainer& trainer,
                              const nlohmann::json& fornax_state = nullptr);

// The config.json object SaveKerasArchive writes (exposed for tests).
absl::StatusOr<nlohmann::json> KerasArchiveConfig(const Trainer& trainer);

// A .keras archive read back: config.json parsed and model.weights.h5 open.
// Member names that could escape a destination ("..", absolute paths,
// backslashes) are refused, as are members declaring over 4 GiB or over 100x
// their stored size. Errors name the archive and the member. A file that
// starts with HDF5's signature is read as a legacy full-model .h5
// (legacy_h5.h): `config` is then its model_config with a compile_config
// made from its training_config, and `weights` the whole file.
struct KerasArchive {
  nlohmann::json config;
  std::unique_ptr<H5Reader> weights;
  bool legacy_h5 = false;  // weights in the legacy layout (model_weights/...)
  // metadata.json's "fornax" entry (SaveKerasArchive) with the tensors' bytes
  // back from kFornaxTensorsMember as binary values; null when absent, or
  // when metadata.json is missing or malformed (Keras ignores it too). A
  // tensor whose bytes are missing, out of the member's range or not matching
  // their crc32 is an error naming the archive, the member and the field.
  nlohmann::json fornax_state;
};
absl::StatusOr<KerasArchive> ReadKerasArchive(const std::string& path);

// The CompileConfig a compile_config (config.json's) records; Keras's
// compile defaults for what it leaves out.
CompileConfig CompileConfigFromKeras(const nlohmann::json& compile_config);

// The archive's model (.keras, or legacy .h5) compiled with its
// compile_config, weights and optimizer state restored: a saved Fornax or
// Keras run continues where it stopped. With `compile` (a job's compile
// section), the fields named in `compile_keys` ("optimizer", "loss",
// "loss_weights", "metrics", "steps_per_execution"; every field when
// `compile_keys` is null) come from `compile` and the others from the
// archive's compile_config; the backend always comes from `compile`.
// Errors name the h5 group, layer and variable (count, shape or dtype
// mismatch; in a .keras, an optimizer whose variables differ from the saved
// ones is an error, not Keras's skipped-state warning). `fornax_state`, when
// given, receives KerasArchive::fornax_state.
absl::StatusOr<std::unique_ptr<Trainer>> LoadKerasArchive(
    const std::string& path, uint64_t seed, const CompileConfig* compile = nullptr,
    const std::vector<std::string>* compile_keys = nullptr, nlohmann::json* fornax_state = nullptr);

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_KERAS_ARCHIVE_H_
