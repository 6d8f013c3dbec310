// A served model's settings, read from the optional config file beside its
// version directories: `<repo>/<model>/config.json` or, as Triton has it,
// `<repo>/<model>/config.pbtxt` (never both).
//
// config.json uses the names of Triton's ModelConfig (JSON form):
//   {"max_batch_size": 64,
//    "dynamic_batching": {"preferred_batch_size": [16, 32],
//                         "max_queue_delay_microseconds": 200},
//    "version_policy": {"latest": {"num_versions": 2}}}
// Unlike Triton, dynamic batching is on by default there (delay 0: requests
// that are already queued run together); "dynamic_batching": false turns it
// off (each request is its own engine call). Unknown keys are errors, so a
// typo never silently falls back to a default.
//
// config.pbtxt is Triton's own file (protobuf text format of
// inference.ModelConfig) and means what it means to Triton: no
// dynamic_batching block, no dynamic batching; max_batch_size must be >= 1
// (0, Triton's "no batch dimension", does not fit a Keras model, whose first
// dimension is always the batch). An output's label_filename names its
// labels file: a path relative to the model directory that stays inside it,
// read when a version loads (ReadClassLabels, classification.h). Every
// Triton setting Fornax does not honour is refused with its name;
// docs/serving.md lists the few that are accepted and ignored because they
// cannot change results. config.json has no outputs, so no labels.
#ifndef FORNAX_SERVER_INFERENCE_MODEL_SETTINGS_H_
#define FORNAX_SERVER_INFERENCE_MODEL_SETTINGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/inference/model_config.pb.h"
#include "server/inference/batching_config.h"

namespace fornax::serving {

// An output's labels file, config.pbtxt's label_filename.
struct LabelFile {
  std::string output;
  std::string filename;  // as config.pbtxt has it (ModelConfig shows it)
  std::string path;      // the file: filename beside config.pbtxt
};

// Everything a model's config file sets.
struct ModelSettings {
  BatchingConfig batching;
  // Which versions serve: Triton's default, the latest one, unless set.
  inference::ModelVersionPolicy version_policy;
  // The tensors config.pbtxt declares (none: not declared), checked against
  // the model once it is loaded (CheckDeclaredTensors in served_model.h).
  std::vector<inference::ModelInput> inputs;
  std::vector<inference::ModelOutput> outputs;
  std::vector<LabelFile> label_files;  // in the order of `outputs`
  std::string source;                  // the file, for error messages ("" when there is none)
};

// config.json's contents (`text`), version_policy included; InvalidArgument
// when it is not JSON or sets something wrong or unknown, naming the key.
absl::StatusOr<ModelSettings> ParseModelConfigJson(std::string_view text,
                                                   const std::string& source);
// config.pbtxt's contents for the model `model_name`; InvalidArgument with
// line and column when it does not parse, naming the field when it sets
// something Fornax does not honour or sets it out of range. `source` is the
// file's path: labels files are found beside it (LabelFile::path).
absl::StatusOr<ModelSettings> ParseModelConfigPbtxt(std::string_view text,
                                                    const std::string& source,
                                                    const std::string& model_name);
// Reads `model_dir`/config.json or `model_dir`/config.pbtxt (the model's
// name is the directory's); the defaults when there is neither.
absl::StatusOr<ModelSettings> ReadModelSettings(const std::string& model_dir);
// The config files ReadModelSettings reads, for change detection.
inline constexpr const char* kModelConfigFiles[] = {"config.json", "config.pbtxt"};

// The versions `policy` serves out of `available` (ascending), ascending.
std::vector<int64_t> SelectVersions(const inference::ModelVersionPolicy& policy,
                                    const std::vector<int64_t>& available);
// Triton's default policy, latest {num_versions: 1}.
inference::ModelVersionPolicy DefaultVersionPolicy();

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_MODEL_SETTINGS_H_
