#include "server/inference/served_model.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"

namespace fornax::serving {
namespace {

std::string Names(const std::vector<TensorSpec>& specs) {
  return absl::StrJoin(specs, ", ", [](std::string* out, const TensorSpec& spec) {
    absl::StrAppend(out, "'", spec.name, "'");
  });
}

// One of `declared` (ModelInput or ModelOutput) against the model's
// `specs`; `kind` is "input" or "output".
template <typename Declared>
absl::Status CheckDeclared(const std::vector<Declared>& declared,
                           const std::vector<TensorSpec>& specs, const std::string& kind,
                           const std::string& source) {
  std::vector<bool> seen(specs.size(), false);
  for (const Declared& tensor : declared) {
    const std::string where = absl::StrCat(source, ": ", kind, " '", tensor.name(), "'");
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const TensorSpec& s) { return s.name == tensor.name(); });
    if (spec == specs.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the model has no such ", kind,
                                                     "; its ", kind, "s are ", Names(specs)));
    }
    if (seen[spec - specs.begin()]) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": declared twice"));
    }
    seen[spec - specs.begin()] = true;
    const inference::DataType type = ConfigDatatype(spec->dtype);
    if (tensor.data_type() != type) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": data_type ", inference::DataType_Name(tensor.data_type()),
                       " does not match the model's ", inference::DataType_Name(type)));
    }
    const std::vector<int64_t> shape = WireShape(spec->shape);
    const std::vector<int64_t> dims(shape.begin() + 1, shape.end());  // without the batch
    if (!std::equal(tensor.dims().begin(), tensor.dims().end(), dims.begin(), dims.end())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": dims [", absl::StrJoin(tensor.dims(), ","), "] do not match the model's [",
          absl::StrJoin(dims, ","), "] (without the batch dimension; -1 is a variable one)"));
    }
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!seen[i]) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", kind, ": the model's ", kind,
                                                     " '", specs[i].name, "' is not declared"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckDeclaredTensors(const ModelSettings& settings, const ModelSignature& signature) {
  if (!settings.inputs.empty()) {
    FORNAX_RETURN_IF_ERROR(
        CheckDeclared(settings.inputs, signature.inputs, "input", settings.source));
  }
  if (!settings.outputs.empty()) {
    FORNAX_RETURN_IF_ERROR(
        CheckDeclared(settings.outputs, signature.outputs, "output", settings.source));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<ServedModel>> LoadServedModel(const std::string& name,
                                                             int64_t version,
                                                             const std::string& model_dir,
                                                             InferenceMetrics* metrics) {
  auto model = std::make_shared<ServedModel>();
  model->name = name;
  model->version = version;
  FORNAX_ASSIGN_OR_RETURN(ModelSettings settings, ReadModelSettings(model_dir));
  model->config = settings.batching;
  model->version_policy = settings.version_policy;
  const std::string archive =
      (std::filesystem::path(model_dir) / std::to_string(version) / "model.keras").string();
  FORNAX_ASSIGN_OR_RETURN(model->runner, ModelRunner::Load(archive, model->config.max_batch_size));
  model->signature = ModelSignature{name, model->runner->inputs(), model->runner->outputs(),
                                    model->config.max_batch_size};
  FORNAX_RETURN_IF_ERROR(CheckDeclaredTensors(settings, model->signature));
  FORNAX_ASSIGN_OR_RETURN(model->signature.labels, ReadClassLabels(settings));
  model->stats = metrics->ForModel(name, version);
  ModelRunner* runner = model->runner.get();
  ModelStats* stats = model->stats.get();
  model->batcher = std::make_unique<DynamicBatcher>(
      model->config, [runner](const std::vector<Tensor>& x) { return runner->Run(x); },
      [stats](const ExecutionInfo& info) { stats->RecordExecution(info); });
  return model;
}

}  // namespace fornax::serving
