// `fornax train`: parse the job, load the model and data, fit with a Keras
// progress bar, evaluate on the test split, write the history.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/commands.h"
#include "client/history_json.h"
#include "client/progress_bar.h"
#include "engine/archive/keras_archive.h"
#include "engine/archive/model_checkpoint.h"
#include "engine/base/status_macros.h"
#include "engine/job/job_data.h"
#include "engine/job/job_file.h"
#include "engine/keras/callbacks/callback_from_config.h"
#include "engine/keras/models/model.h"
#include "engine/keras/models/trainer.h"
#include "engine/runtime/backend.h"

namespace fornax {

const char kTrainHelp[] =
    R"(usage: fornax train JOB.yaml [--history FILE] [--output FILE.keras] [--threads N] [--quiet]

Trains the model a job file describes (see docs/job-file.md), evaluates it on
the job's test data when there is some, and prints Keras-style progress. A
job's model may be a .keras archive: training then starts from its weights
and optimizer state.

  --history FILE   write Keras's History.history as JSON, plus "evaluate":
                   {metric: value} when the job has test data
  --output FILE    write the trained model as a Keras 3 .keras archive (config,
                   compile config, weights and optimizer state), which
                   keras.models.load_model opens
  --threads N      compute threads for the backend's kernels (default 1, or
                   FORNAX_NUM_THREADS); 2 is fastest on an idle 2-core machine,
                   1 when other work shares the cores
  --quiet          print nothing but errors
)";

namespace {

struct TrainOptions {
  std::string job_path;
  std::string history_path;
  std::string output_path;
  int threads = 0;  // 0: the backend's default
  bool quiet = false;
};

absl::Status Train(const TrainOptions& options) {
  FORNAX_ASSIGN_OR_RETURN(JobSpec job, ParseJobFile(options.job_path));
  // A .keras model brings its weights and optimizer state: training resumes
  // where it stopped (with fit.initial_epoch, on the same epochs' shuffles).
  const bool from_archive = absl::EndsWith(job.model_path, ".keras");
  std::unique_ptr<Model> model;
  std::unique_ptr<Trainer> trainer;
  if (from_archive) {
    FORNAX_ASSIGN_OR_RETURN(trainer, LoadKerasArchive(job.model_path, job.seed, &job.compile));
  } else {
    FORNAX_ASSIGN_OR_RETURN(model, Model::FromJsonFile(job.model_path));
  }
  FORNAX_ASSIGN_OR_RETURN(JobData data, LoadJobData(job, from_archive ? trainer->model() : *model));
  std::vector<std::unique_ptr<Callback>> job_callbacks;
  for (size_t i = 0; i < job.callbacks.size(); ++i) {
    // ModelCheckpoint saves archives, which the engine's callbacks cannot.
    absl::StatusOr<std::unique_ptr<Callback>> cb = ModelCheckpoint::FromJobEntry(job.callbacks[i]);
    if (cb.ok() && *cb == nullptr) cb = CallbackFromConfig(job.callbacks[i]);
    if (!cb.ok()) {
      return absl::Status(cb.status().code(), absl::StrCat(job.path, ": fit.callbacks[", i,
                                                           "]: ", cb.status().message()));
    }
    job_callbacks.push_back(*std::move(cb));
  }
  if (options.threads > 0) {
    FORNAX_ASSIGN_OR_RETURN(Backend * backend, GetBackend(job.compile.backend));
    backend->set_num_threads(options.threads);
  }
  if (!from_archive) {
    FORNAX_ASSIGN_OR_RETURN(trainer, Trainer::Create(std::move(model), job.compile, job.seed));
  }

  const bool dynamic = isatty(STDOUT_FILENO) != 0;
  ProgressBar progress(std::cout, dynamic);
  std::vector<Callback*> callbacks;
  for (const auto& cb : job_callbacks) callbacks.push_back(cb.get());
  if (!options.quiet) callbacks.push_back(&progress);
  const Dataset* validation = data.validation ? &*data.validation : nullptr;
  FORNAX_ASSIGN_OR_RETURN(History history,
                          trainer->Fit(data.train, validation, job.fit, callbacks));

  std::optional<Logs> evaluate;
  if (data.test) {
    const int64_t batch = job.fit.batch_size;
    ProgressBar eval_bar(std::cout, dynamic);
    eval_bar.Start((data.test->num_samples() + batch - 1) / batch);
    FORNAX_ASSIGN_OR_RETURN(evaluate, trainer->Evaluate(*data.test, batch));
    if (!options.quiet) {
      eval_bar.Update((data.test->num_samples() + batch - 1) / batch, *evaluate, true);
    }
  }
  if (!options.quiet) {
    // One trace per step kind (train, evaluate) and input signature; more
    // would mean a retrace, which Fornax avoids for short last batches.
    std::cout << "traces: " << trainer->retrace_count() << "\n";
  }
  if (!options.history_path.empty()) {
    FORNAX_RETURN_IF_ERROR(WriteHistoryFile(options.history_path, history, evaluate));
  }
  if (!options.output_path.empty()) {
    FORNAX_RETURN_IF_ERROR(SaveKerasArchive(options.output_path, *trainer));
  }
  return absl::OkStatus();
}

}  // namespace

int RunTrain(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs("train", args, {"history", "output", "threads"}, {"quiet", "help"});
  if (!parsed.ok()) return ReportError(parsed.status());
  if (parsed->switches.count("help")) {
    std::cout << kTrainHelp;
    return kExitOk;
  }
  if (parsed->positional.size() != 1) {
    return ReportError(absl::InvalidArgumentError(absl::StrCat(
        "train: expected one job file, got ", parsed->positional.size(),
        " arguments (usage: fornax train JOB.yaml [--history FILE] [--output FILE.keras] ",
        "[--threads N] [--quiet])")));
  }
  TrainOptions options;
  options.job_path = parsed->positional[0];
  if (parsed->values.count("history")) options.history_path = parsed->values["history"];
  if (parsed->values.count("output")) options.output_path = parsed->values["output"];
  options.quiet = parsed->switches.count("quiet") > 0;
  if (parsed->values.count("threads")) {
    const std::string& value = parsed->values["threads"];
    int threads = 0;
    if (!absl::SimpleAtoi(value, &threads) || threads < 1 || threads > 256) {
      return ReportError(absl::InvalidArgumentError(absl::StrCat(
          "train: --threads: expected an integer between 1 and 256, got '", value, "'")));
    }
    options.threads = threads;
  }
  absl::Status status = Train(options);
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace fornax
