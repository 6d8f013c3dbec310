// The `fornax` command-line tool: train and inspect Keras-defined models.
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

Exit codes: 0 success, 2 bad input (one "fornax: error:" line on stderr),
1 internal error. Job file reference: docs/job-file.md.
)";

int Dispatch(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    std::cerr << kUsage;
    return fornax::kExitBadInput;
  }
  const std::string& command = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (command == "train") return fornax::RunTrain(rest);
  if (command == "inspect") return fornax::RunInspect(rest);
  if (command == "predict") return fornax::RunPredict(rest);
  if (command == "serve") return fornax::RunServe(rest);
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
      std::cout << kUsage;
    }
    return fornax::kExitOk;
  }
  std::cerr << "fornax: error: unknown command '" << command
            << "'; expected train, predict, inspect, serve, version or help\n";
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
