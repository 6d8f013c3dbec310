// `fornax train`: parse the job, load the model and data, fit with a Keras
// progress bar, evaluate on the test split, write the history.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/commands.h"
#include "client/history_json.h"
#include "client/progress_bar.h"
#include "engine/base/status_macros.h"
#include "engine/job/job_file.h"
#include "engine/job/job_runner.h"

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
  JobRunOptions run_options;
  run_options.threads = options.threads;
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<JobRunner> runner,
                          JobRunner::Create(std::move(job), run_options));

  const bool dynamic = isatty(STDOUT_FILENO) != 0;
  ProgressBar progress(std::cout, dynamic);
  std::vector<Callback*> callbacks;
  if (!options.quiet) callbacks.push_back(&progress);
  FORNAX_ASSIGN_OR_RETURN(History history, runner->Fit(callbacks, /*observer=*/nullptr));

  ProgressBar eval_bar(std::cout, dynamic);
  eval_bar.Start(runner->test_steps());
  FORNAX_ASSIGN_OR_RETURN(std::optional<Logs> evaluate, runner->Evaluate());
  if (evaluate && !options.quiet) eval_bar.Update(runner->test_steps(), *evaluate, true);
  if (!options.quiet) {
    // One trace per step kind (train, evaluate) and input signature; more
    // would mean a retrace, which Fornax avoids for short last batches.
    std::cout << "traces: " << runner->trainer().retrace_count() << "\n";
  }
  if (!options.history_path.empty()) {
    FORNAX_RETURN_IF_ERROR(WriteHistoryFile(options.history_path, history, evaluate));
  }
  if (!options.output_path.empty()) FORNAX_RETURN_IF_ERROR(runner->SaveModel(options.output_path));
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
