// ModelRunner: a .keras archive loaded on the compiled engine, ready to
// predict batches of up to max_batch_size rows.
//
// The predict plan is compiled for capacity() rows, not max_batch_size: its
// arena grows with the rows it holds (the Fashion-MNIST CNN's about 106 KiB
// a row: 301 rows fit in kPlanBytes), so a config that sets max_batch_size
// to 100000 "to let the batcher decide" would make the server allocate
// gigabytes. capacity() is as many rows as fit in kPlanBytes (at least 1, at
// most max_batch_size); a larger batch runs in chunks of capacity() rows
// (Trainer::Predict), with the same outputs as one call.
//
// Load() compiles the plan with a zero batch of capacity() rows (when the
// input dims are fixed), so the first request, and the first one after a hot
// reload, pays no compile. Every later batch of the same signature reuses
// that plan (Trainer caches plans by input signature).
// Thread-safety: none; the model's DynamicBatcher runs one batch at a time,
// on its thread or on a submitting one: Run is called from other threads
// than Load's (the engine's kernels allow that; see kernels/conv.cc).
#ifndef FORNAX_SERVER_INFERENCE_MODEL_RUNNER_H_
#define FORNAX_SERVER_INFERENCE_MODEL_RUNNER_H_

#include <cstddef>
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
  // What one chunk's rows may take: the plan's arena plus the inputs.
  static constexpr size_t kPlanBytes = size_t{32} << 20;
  // The capacity of a model with a variable non-batch dim, whose bytes per
  // row are unknown until a request comes.
  static constexpr int64_t kVariableDimRows = 256;

  static absl::StatusOr<std::unique_ptr<ModelRunner>> Load(const std::string& path,
                                                           int64_t max_batch_size);

  const std::vector<TensorSpec>& inputs() const { return trainer_->model().inputs(); }
  const std::vector<TensorSpec>& outputs() const { return trainer_->model().outputs(); }
  // The rows one plan run takes; larger batches run in chunks of this many.
  int64_t capacity() const { return capacity_; }

  // Predicts one batch (inputs in the model's order, dtypes as inputs()).
  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<Tensor>& inputs);

 private:
  ModelRunner(std::unique_ptr<Trainer> trainer, int64_t capacity)
      : trainer_(std::move(trainer)), capacity_(capacity) {}
  std::unique_ptr<Trainer> trainer_;
  int64_t capacity_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_MODEL_RUNNER_H_
