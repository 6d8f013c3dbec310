// `fornax inspect`: the model summary and the compiled train step.
#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/commands.h"
#include "engine/base/status_macros.h"
#include "engine/job/job_file.h"
#include "engine/job/yaml_json.h"
#include "engine/keras/models/model.h"
#include "engine/keras/models/trainer.h"

namespace fornax {

const char kInspectHelp[] = R"(usage: fornax inspect MODEL.json [--batch-size N] [--loss LOSS]
                      [--optimizer OPT] [--job JOB.yaml]

Prints a Keras-like summary of the model (layers, output shapes, parameter
counts) and the compiled train step for one batch size: the ops left after
fusion and the arena bytes.

  --batch-size N   batch size to compile for (default: the job's, else 32)
  --loss LOSS      loss to compile with (default: mean_squared_error)
  --optimizer OPT  optimizer to compile with (default: adam)
  --job JOB.yaml   take model, loss, optimizer, metrics and batch size from a
                   job file; MODEL.json may then be left out
)";

namespace {

struct InspectOptions {
  std::string model_path;
  std::string job_path;
  std::optional<int64_t> batch_size;
  std::optional<std::string> loss;
  std::optional<std::string> optimizer;
};

absl::Status Inspect(const InspectOptions& options) {
  CompileConfig compile;
  compile.optimizer = "adam";
  compile.loss = "mean_squared_error";
  int64_t batch_size = 32;
  uint64_t seed = 0;
  std::string model_path = options.model_path;
  if (!options.job_path.empty()) {
    FORNAX_ASSIGN_OR_RETURN(JobSpec job, ParseJobFile(options.job_path));
    compile = job.compile;
    batch_size = job.fit.batch_size;
    seed = job.seed;
    if (model_path.empty()) model_path = job.model_path;
  }
  if (options.loss) compile.loss = PlainScalarToJson(*options.loss);
  if (options.optimizer) compile.optimizer = PlainScalarToJson(*options.optimizer);
  if (options.batch_size) batch_size = *options.batch_size;

  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::FromJsonFile(model_path));
  std::cout << model->Summary() << std::flush;
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                          Trainer::Create(std::move(model), compile, seed));
  FORNAX_ASSIGN_OR_RETURN(std::string plan, trainer->TrainPlanString(batch_size));
  std::cout << "\nCompiled train step (batch size " << batch_size << "):\n" << plan;
  if (!plan.empty() && plan.back() != '\n') std::cout << "\n";
  return absl::OkStatus();
}

}  // namespace

int RunInspect(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs("inspect", args, {"batch-size", "loss", "optimizer", "job"}, {"help"});
  if (!parsed.ok()) return ReportError(parsed.status());
  if (parsed->switches.count("help")) {
    std::cout << kInspectHelp;
    return kExitOk;
  }
  InspectOptions options;
  if (parsed->values.count("job")) options.job_path = parsed->values["job"];
  if (parsed->positional.size() > 1 || (parsed->positional.empty() && options.job_path.empty())) {
    return ReportError(absl::InvalidArgumentError(
        "inspect: expected one model file (usage: fornax inspect MODEL.json [--batch-size N] "
        "[--loss LOSS] [--optimizer OPT] [--job JOB.yaml])"));
  }
  if (!parsed->positional.empty()) options.model_path = parsed->positional[0];
  if (parsed->values.count("batch-size")) {
    int64_t n;
    const std::string& text = parsed->values["batch-size"];
    if (!absl::SimpleAtoi(text, &n) || n <= 0) {
      return ReportError(absl::InvalidArgumentError(
          absl::StrCat("inspect: --batch-size: expected a positive integer, got '", text, "'")));
    }
    options.batch_size = n;
  }
  if (parsed->values.count("loss")) options.loss = parsed->values["loss"];
  if (parsed->values.count("optimizer")) options.optimizer = parsed->values["optimizer"];
  absl::Status status = Inspect(options);
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace fornax
