#include "server/inference/served_model.h"

#include <filesystem>

#include "engine/base/status_macros.h"

namespace fornax::serving {

absl::StatusOr<std::shared_ptr<ServedModel>> LoadServedModel(const std::string& name,
                                                             int64_t version,
                                                             const std::string& model_dir,
                                                             InferenceMetrics* metrics) {
  auto model = std::make_shared<ServedModel>();
  model->name = name;
  model->version = version;
  FORNAX_ASSIGN_OR_RETURN(model->config, ReadBatchingConfig(model_dir));
  const std::string archive =
      (std::filesystem::path(model_dir) / std::to_string(version) / "model.keras").string();
  FORNAX_ASSIGN_OR_RETURN(model->runner, ModelRunner::Load(archive, model->config.max_batch_size));
  model->signature = ModelSignature{name, model->runner->inputs(), model->runner->outputs(),
                                    model->config.max_batch_size};
  model->stats = metrics->ForModel(name, version);
  ModelRunner* runner = model->runner.get();
  ModelStats* stats = model->stats.get();
  model->batcher = std::make_unique<DynamicBatcher>(
      model->config, [runner](const std::vector<Tensor>& x) { return runner->Run(x); },
      [stats](const ExecutionInfo& info) { stats->RecordExecution(info); });
  return model;
}

}  // namespace fornax::serving
