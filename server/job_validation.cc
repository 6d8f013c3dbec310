#include "server/job_validation.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/archive/keras_archive.h"
#include "engine/job/job_file.h"
#include "engine/job/job_runner.h"
#include "engine/keras/models/model.h"
#include "nlohmann/json.hpp"
#include "server/artifact_store.h"

namespace fornax::server {
namespace {

constexpr int64_t kMaxTextBytes = 16 << 20;  // job YAML and model JSON, each

absl::Status Invalid(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

absl::Status CheckInputs(const v1::JobSpec& spec, std::set<std::string>* paths) {
  for (int i = 0; i < spec.inputs_size(); ++i) {
    const v1::InputFile& input = spec.inputs(i);
    const std::string field = absl::StrCat("spec.inputs[", i, "]");
    if (!IsSha256Hex(input.sha256())) {
      return Invalid(field + ".sha256",
                     absl::StrCat("expected 64 lowercase hex digits, got '", input.sha256(), "'"));
    }
    absl::Status path = CheckInputFilePath(input.path(), input.sha256());
    if (!path.ok()) return Invalid(field + ".path", std::string(path.message()));
    paths->insert(input.path());
  }
  return absl::OkStatus();
}

absl::Status CheckSources(const std::optional<DataSplit>& split,
                          const std::set<std::string>& inputs) {
  if (!split) return absl::OkStatus();
  for (const DataSide* side : {&split->x, &split->y}) {
    for (const auto& [name, source] : side->sources) {
      if (inputs.count(source.path) == 0) {
        return Invalid("spec.job_yaml",
                       absl::StrCat(source.field, ": path '", source.path,
                                    "' is not one of spec.inputs (upload the file and name it "
                                    "inputs/<sha256>/<name>)"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateJobSpec(const v1::JobSpec& spec) {
  const v1::Resources& r = spec.resources();
  if (r.gpus() < 0) return Invalid("spec.resources.gpus", "must be >= 0");
  if (r.cpus() < 0) return Invalid("spec.resources.cpus", "must be >= 0");
  if (r.memory_bytes() < 0) return Invalid("spec.resources.memory_bytes", "must be >= 0");
  if (spec.max_restarts() < 0) return Invalid("spec.max_restarts", "must be >= 0");
  if (spec.checkpoint_every_steps() < 0) {
    return Invalid("spec.checkpoint_every_steps", "must be >= 0");
  }
  if (spec.job_yaml().empty()) return Invalid("spec.job_yaml", "required");
  if (static_cast<int64_t>(spec.job_yaml().size()) > kMaxTextBytes ||
      static_cast<int64_t>(spec.model_json().size()) > kMaxTextBytes) {
    return Invalid("spec", absl::StrCat("job_yaml and model_json are limited to ", kMaxTextBytes,
                                        " bytes each"));
  }
  std::set<std::string> inputs;
  absl::Status status = CheckInputs(spec, &inputs);
  if (!status.ok()) return status;

  // Paths resolve against "." so they compare with the inputs' relative paths.
  absl::StatusOr<JobSpec> job = ParseJobYaml(spec.job_yaml(), "job.yaml", ".");
  if (!job.ok()) return Invalid("spec.job_yaml", std::string(job.status().message()));
  // The callbacks are built as the job process will, so a job that could
  // only fail on every attempt is refused now.
  absl::StatusOr<std::vector<std::unique_ptr<Callback>>> callbacks = BuildJobCallbacks(*job);
  status = callbacks.ok() ? CheckCallbackFilesStayInJobDir(*job, *callbacks) : callbacks.status();
  if (!status.ok()) return Invalid("spec.job_yaml", std::string(status.message()));
  for (const auto* split : {&job->train, &job->validation, &job->test}) {
    status = CheckSources(*split, inputs);
    if (!status.ok()) return status;
  }
  if (IsModelArchive(job->model_path)) {
    if (inputs.count(job->model_path) == 0) {
      return Invalid("spec.job_yaml",
                     absl::StrCat("model: '", job->model_path, "' is not one of spec.inputs"));
    }
    return absl::OkStatus();
  }
  if (job->model_path != "model.json") {
    return Invalid("spec.job_yaml", absl::StrCat("model: expected model.json (the config "
                                                 "carried in spec.model_json) or an input "
                                                 ".keras file, got '",
                                                 job->model_path, "'"));
  }
  if (spec.model_json().empty()) return Invalid("spec.model_json", "required: the model config");
  nlohmann::json config = nlohmann::json::parse(spec.model_json(), nullptr, false);
  if (config.is_discarded()) return Invalid("spec.model_json", "not valid JSON");
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(config, "model.json");
  if (!model.ok()) return Invalid("spec.model_json", std::string(model.status().message()));
  return absl::OkStatus();
}

absl::Status CheckModelArchive(const v1::JobSpec& spec, ArtifactStore& artifacts) {
  absl::StatusOr<JobSpec> job = ParseJobYaml(spec.job_yaml(), "job.yaml", ".");
  if (!job.ok() || !IsModelArchive(job->model_path)) return absl::OkStatus();
  for (int i = 0; i < spec.inputs_size(); ++i) {
    const v1::InputFile& input = spec.inputs(i);
    if (input.path() != job->model_path || !IsSha256Hex(input.sha256())) continue;
    // Held while reading, so a dataset delete cannot remove the bytes between
    // the check that they are stored and the read.
    std::unique_lock<std::mutex> held = artifacts.Lock(input.sha256());
    if (!artifacts.Contains(input.sha256())) return absl::OkStatus();
    const std::string stored = artifacts.PathFor(input.sha256());
    absl::StatusOr<std::unique_ptr<Trainer>> trainer =
        LoadKerasArchive(stored, job->seed, &job->compile, &job->compile_keys);
    if (trainer.ok()) return absl::OkStatus();
    // The reader names the file it read; the client knows it by the input's
    // path (and the coordinator's directories are none of its business).
    return Invalid(absl::StrCat("spec.inputs[", i, "]"),
                   absl::StrReplaceAll(trainer.status().message(), {{stored, input.path()}}));
  }
  return absl::OkStatus();
}

}  // namespace fornax::server
