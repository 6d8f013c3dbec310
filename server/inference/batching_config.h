// BatchingConfig: a served model's batching settings, read from the optional
// `<repo>/<model>/config.json` beside its version directories.
//
// The file uses the names of Triton's ModelConfig (JSON form):
//   {"max_batch_size": 64,
//    "dynamic_batching": {"preferred_batch_size": [16, 32],
//                         "max_queue_delay_microseconds": 200}}
// Unlike Triton, dynamic batching is on by default (delay 0: requests that
// are already queued run together); "dynamic_batching": false turns it off
// (each request is its own engine call). Unknown keys are errors, so a typo
// never silently falls back to a default.
#ifndef FORNAX_SERVER_INFERENCE_BATCHING_CONFIG_H_
#define FORNAX_SERVER_INFERENCE_BATCHING_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace fornax::serving {

struct BatchingConfig {
  // Rows (samples) per engine call; a request with more rows is refused.
  int64_t max_batch_size = 64;
  bool dynamic_batching = true;
  // Batch sizes to form when the queue allows (each <= max_batch_size).
  std::vector<int64_t> preferred_batch_sizes;
  // How long the oldest queued request may wait for others to join it.
  int64_t max_queue_delay_us = 0;
};

// `source` names the file in error messages.
absl::StatusOr<BatchingConfig> ParseBatchingConfig(const nlohmann::json& json,
                                                   const std::string& source);
// `text` is the file's contents: InvalidArgument when it is not JSON.
absl::StatusOr<BatchingConfig> ParseBatchingConfigText(std::string_view text,
                                                       const std::string& source);
// Reads `model_dir`/config.json; the defaults when there is none.
absl::StatusOr<BatchingConfig> ReadBatchingConfig(const std::string& model_dir);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_BATCHING_CONFIG_H_
