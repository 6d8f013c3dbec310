#include "server/inference/model_runner.h"

#include <algorithm>

#include "engine/archive/keras_archive.h"
#include "engine/base/status_macros.h"

namespace fornax::serving {

absl::StatusOr<std::unique_ptr<ModelRunner>> ModelRunner::Load(const std::string& path,
                                                               int64_t max_batch_size) {
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer, LoadKerasArchive(path, /*seed=*/0));
  // One row of each input; a variable non-batch dim has no single plan to
  // size or warm.
  size_t row_bytes = 0;
  for (const TensorSpec& spec : trainer->model().inputs()) {
    for (int d = 1; d < spec.shape.rank(); ++d) {
      if (spec.shape.dim(d) < 0) {
        return std::unique_ptr<ModelRunner>(
            new ModelRunner(std::move(trainer), std::min(max_batch_size, kVariableDimRows)));
      }
    }
    row_bytes += static_cast<size_t>(spec.shape.NumElements(1)) * DTypeSize(spec.dtype);
  }
  // The arena of a one-row plan is an upper bound on its bytes per row
  // (values that do not grow with the batch count in full).
  FORNAX_ASSIGN_OR_RETURN(size_t arena_bytes, trainer->PredictArenaBytes(1));
  row_bytes += arena_bytes;
  const int64_t fitting = static_cast<int64_t>(kPlanBytes / std::max<size_t>(row_bytes, 1));
  const int64_t capacity = std::clamp<int64_t>(fitting, 1, max_batch_size);
  std::unique_ptr<ModelRunner> runner(new ModelRunner(std::move(trainer), capacity));
  // Warm up: compile the plan at full capacity now rather than on the first
  // request.
  std::vector<Tensor> zeros;
  for (const TensorSpec& spec : runner->inputs()) {
    zeros.emplace_back(spec.dtype, spec.shape.Concrete(capacity));
  }
  FORNAX_RETURN_IF_ERROR(runner->Run(zeros).status());
  return runner;
}

absl::StatusOr<std::vector<Tensor>> ModelRunner::Run(const std::vector<Tensor>& inputs) {
  return trainer_->Predict(inputs, capacity_);
}

}  // namespace fornax::serving
