// The `fornax` command-line tool: train and inspect Keras-defined models
// locally, and submit and watch jobs on a fornax-coordinator.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "client/cli_util.h"
#include "client/commands.h"

namespace {

constexpr char kUsage[] = R"(usage: fornax COMMAND [ARGS]

Fornax trains Keras 3 models (the JSON model.to_json() writes) on a compiled,
deterministic CPU engine.

commands:
  train JOB.yaml [--history FILE] [--output FILE.keras] [--threads N] [--quiet]
                                              train and evaluate a job
  predict --model FILE.keras --input X --output Y
                                              run a .keras model on .npy/.npz
  inspect MODEL.json [--batch-size N] ...     model summary and compiled plan
  serve --model-repository DIR [--port N]     serve models over the Open Inference
                                              Protocol (gRPC, tritonclient)
  version                                     print the version
  help [COMMAND]                              this text, or a command's help

service commands: fornax [--coordinator ADDR] COMMAND [ARGS] talks to the
fornax-coordinator at ADDR, else $FORNAX_COORDINATOR, else 127.0.0.1:7070:
  submit JOB.yaml [--priority P] [--follow]   upload a job's data and queue it
  jobs [--state S] [--all]                    list jobs
  get JOB                                     one job, with a failure's cause
  logs [-f] JOB                               its progress and events (live: -f)
  cancel JOB                                  stop a job
  checkpoints JOB                             its checkpoints
  files JOB                                   the files it wrote (CSVLogger, ...)
  pull JOB [-o FILE.keras] [--checkpoint ID]  download its model
  pull JOB --file PATH [-o FILE]              download a file it wrote
  datasets upload FILE | ls | rm SHA256       the coordinator's dataset store
  workers                                     the coordinator's workers
  deploy JOB --name NAME                      serve a job's model on a worker
  deployments                                 list the served models
  undeploy NAME                               stop serving a model
  predict --model NAME --input X --output Y   ask a deployment (NAME is no file)

Exit codes: 0 success, 2 bad input (one "fornax: error:" line on stderr),
1 internal error. Job file reference: docs/job-file.md.
)";

// The service commands, which take the --coordinator given before them.
using ServiceRun = int (*)(const std::string&, const std::vector<std::string>&);
struct ServiceCommandEntry {
  const char* name;
  ServiceRun run;
  const char* help;
};
constexpr ServiceCommandEntry kServiceCommands[] = {
    {"submit", fornax::RunSubmit, fornax::kSubmitHelp},
    {"jobs", fornax::RunJobs, fornax::kJobsHelp},
    {"get", fornax::RunGet, fornax::kGetHelp},
    {"logs", fornax::RunLogs, fornax::kLogsHelp},
    {"cancel", fornax::RunCancel, fornax::kCancelHelp},
    {"checkpoints", fornax::RunCheckpoints, fornax::kCheckpointsHelp},
    {"files", fornax::RunFiles, fornax::kFilesHelp},
    {"pull", fornax::RunPull, fornax::kPullHelp},
    {"datasets", fornax::RunDatasets, fornax::kDatasetsHelp},
    {"workers", fornax::RunWorkers, fornax::kWorkersHelp},
    {"deploy", fornax::RunDeploy, fornax::kDeployHelp},
    {"deployments", fornax::RunDeployments, fornax::kDeploymentsHelp},
    {"undeploy", fornax::RunUndeploy, fornax::kUndeployHelp},
};

int Dispatch(std::vector<std::string> argv) {
  // The global flag: fornax --coordinator ADDR COMMAND ...
  std::string coordinator;
  while (!argv.empty() && argv[0].rfind("--coordinator", 0) == 0) {
    if (argv[0].rfind("--coordinator=", 0) == 0) {
      coordinator = argv[0].substr(std::string("--coordinator=").size());
      argv.erase(argv.begin());
    } else if (argv[0] == "--coordinator" && argv.size() >= 2) {
      coordinator = argv[1];
      argv.erase(argv.begin(), argv.begin() + 2);
    } else {
      std::cerr << "fornax: error: flag --coordinator expects a value (host:port)\n";
      return fornax::kExitBadInput;
    }
  }
  if (argv.empty()) {
    std::cerr << kUsage;
    return fornax::kExitBadInput;
  }
  const std::string& command = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (command == "train") return fornax::RunTrain(rest);
  if (command == "inspect") return fornax::RunInspect(rest);
  if (command == "predict") return fornax::RunPredict(coordinator, rest);
  if (command == "serve") return fornax::RunServe(rest);
  for (const ServiceCommandEntry& entry : kServiceCommands) {
    if (command == entry.name) return entry.run(coordinator, rest);
  }
  if (command == "version" || command == "--version") {
    std::cout << "fornax " << FORNAX_VERSION << "\n";
    return fornax::kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    if (!rest.empty() && rest[0] == "train") {
      std::cout << fornax::kTrainHelp;
    } else if (!rest.empty() && rest[0] == "predict") {
      std::cout << fornax::kPredictHelp;
    } else if (!rest.empty() && rest[0] == "serve") {
      std::cout << fornax::kServeHelp;
    } else if (!rest.empty() && rest[0] == "inspect") {
      std::cout << fornax::kInspectHelp;
    } else {
      const char* help = kUsage;
      for (const ServiceCommandEntry& entry : kServiceCommands) {
        if (!rest.empty() && rest[0] == entry.name) help = entry.help;
      }
      std::cout << help;
    }
    return fornax::kExitOk;
  }
  std::cerr << "fornax: error: unknown command '" << command
            << "'; expected train, predict, inspect, serve, submit, jobs, get, logs, cancel, "
               "checkpoints, files, pull, datasets, workers, deploy, deployments, undeploy, "
               "version or help\n";
  return fornax::kExitBadInput;
}

}  // namespace

int main(int argc, char** argv) {
  // The engine reports errors as absl::Status; this is only a last guard so
  // that no input can end in an uncaught exception.
  try {
    return Dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "fornax: internal error: " << e.what() << std::endl;
    return fornax::kExitInternal;
  }
}
