#include "server/inference/model_runner.h"

#include "engine/archive/keras_archive.h"
#include "engine/base/status_macros.h"

namespace fornax::serving {

absl::StatusOr<std::unique_ptr<ModelRunner>> ModelRunner::Load(const std::string& path,
                                                               int64_t max_batch_size) {
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer, LoadKerasArchive(path, /*seed=*/0));
  std::unique_ptr<ModelRunner> runner(new ModelRunner(std::move(trainer), max_batch_size));
  // Warm up: compile the plan at full capacity now rather than on the first
  // request. Variable non-batch dims have no single plan to warm.
  std::vector<Tensor> zeros;
  for (const TensorSpec& spec : runner->inputs()) {
    std::vector<int64_t> dims = spec.shape.dims();
    for (size_t d = 1; d < dims.size(); ++d) {
      if (dims[d] < 0) return runner;
    }
    if (!dims.empty()) dims[0] = max_batch_size;
    zeros.emplace_back(spec.dtype, Shape(std::move(dims)));
  }
  FORNAX_RETURN_IF_ERROR(runner->Run(zeros).status());
  return runner;
}

absl::StatusOr<std::vector<Tensor>> ModelRunner::Run(const std::vector<Tensor>& inputs) {
  return trainer_->Predict(inputs, max_batch_size_);
}

}  // namespace fornax::serving
