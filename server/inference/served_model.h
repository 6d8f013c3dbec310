// ServedModel: one loaded model version with its runner, statistics and
// batcher. Shared (shared_ptr) between the repository and the requests that
// found it, so a hot reload never pulls a model from under a request: the
// old version is destroyed when its last request has been handed to its
// batcher, and the batcher's destructor runs everything still queued.
#ifndef FORNAX_SERVER_INFERENCE_SERVED_MODEL_H_
#define FORNAX_SERVER_INFERENCE_SERVED_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/inference/dynamic_batcher.h"
#include "server/inference/model_runner.h"
#include "server/inference/model_settings.h"
#include "server/inference/model_stats.h"
#include "server/inference/tensor_codec.h"

namespace fornax::serving {

struct ServedModel {
  std::string name;
  int64_t version = 0;
  BatchingConfig config;
  // The repository's policy for the model, as ModelConfig reports it.
  inference::ModelVersionPolicy version_policy;
  ModelSignature signature;
  std::unique_ptr<ModelRunner> runner;
  std::unique_ptr<ModelStats> stats;
  // Last, so it is destroyed (drained and joined) before what it uses.
  std::unique_ptr<DynamicBatcher> batcher;
};

// Loads `<model_dir>/<version>/model.keras` with the settings of
// `<model_dir>/config.json` or `config.pbtxt` (ReadModelSettings) and the
// labels files config.pbtxt names (ReadClassLabels).
absl::StatusOr<std::shared_ptr<ServedModel>> LoadServedModel(const std::string& name,
                                                             int64_t version,
                                                             const std::string& model_dir,
                                                             InferenceMetrics* metrics);

// The inputs and outputs config.pbtxt declares (if any) against the loaded
// model's: the same names, each once, data_type and dims (without the batch
// dimension, as Triton writes them when max_batch_size > 0; -1 for a
// variable one). InvalidArgument naming the file, tensor and field.
absl::Status CheckDeclaredTensors(const ModelSettings& settings, const ModelSignature& signature);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_SERVED_MODEL_H_
