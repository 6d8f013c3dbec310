// BatchingConfig: how a served model's requests are batched (DynamicBatcher),
// as its config file sets it (ModelSettings, model_settings.h).
#ifndef FORNAX_SERVER_INFERENCE_BATCHING_CONFIG_H_
#define FORNAX_SERVER_INFERENCE_BATCHING_CONFIG_H_

#include <cstdint>
#include <vector>

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

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_BATCHING_CONFIG_H_
