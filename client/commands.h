// The `fornax` subcommands. Each takes the arguments after its name and
// returns the process exit code (see cli_util.h); errors are printed there.
#ifndef FORNAX_CLIENT_COMMANDS_H_
#define FORNAX_CLIENT_COMMANDS_H_

#include <string>
#include <vector>

namespace fornax {

// fornax train JOB.yaml [--history FILE] [--quiet]
int RunTrain(const std::vector<std::string>& args);
// fornax inspect MODEL.json [--batch-size N] [--loss LOSS] [--optimizer OPT] [--job JOB.yaml]
int RunInspect(const std::vector<std::string>& args);
// fornax predict --model FILE.keras --input X.npy|X.npz --output Y.npy|Y.npz [--batch-size N]
int RunPredict(const std::vector<std::string>& args);

extern const char kTrainHelp[];
extern const char kPredictHelp[];
extern const char kInspectHelp[];

// fornax serve --model-repository DIR [--port N] [--metrics-port N] [--poll-interval-ms N]
int RunServe(const std::vector<std::string>& args);
extern const char kServeHelp[];

}  // namespace fornax

#endif  // FORNAX_CLIENT_COMMANDS_H_
