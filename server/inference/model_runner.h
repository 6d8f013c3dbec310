// ModelRunner: a .keras archive loaded on the compiled engine, ready to
// predict batches of up to max_batch_size rows.
//
// Load() compiles the predict plan for max_batch_size rows with a zero batch
// (when the input dims are fixed), so the first request, and the first one
// after a hot reload, pays no compile. Every later batch of the same
// signature reuses that plan (Trainer caches plans by input signature).
// Thread-safety: none; the model's DynamicBatcher thread is the only caller
// of Run.
#ifndef FORNAX_SERVER_INFERENCE_MODEL_RUNNER_H_
#define FORNAX_SERVER_INFERENCE_MODEL_RUNNER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/models/trainer.h"
#include "engine/tensor/tensor.h"

namespace fornax::serving {

class ModelRunner {
 public:
  static absl::StatusOr<std::unique_ptr<ModelRunner>> Load(const std::string& path,
                                                           int64_t max_batch_size);

  const std::vector<TensorSpec>& inputs() const { return trainer_->model().inputs(); }
  const std::vector<TensorSpec>& outputs() const { return trainer_->model().outputs(); }

  // Predicts one batch (inputs in the model's order, dtypes as inputs()).
  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs);

 private:
  ModelRunner(std::unique_ptr<Trainer> trainer, int64_t max_batch_size)
      : trainer_(std::move(trainer)), max_batch_size_(max_batch_size) {}
  std::unique_ptr<Trainer> trainer_;
  int64_t max_batch_size_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_MODEL_RUNNER_H_
