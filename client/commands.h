// The `fornax` subcommands. Each takes the arguments after its name and
// returns the process exit code (see cli_util.h); errors are printed there.
#ifndef FORNAX_CLIENT_COMMANDS_H_
#define FORNAX_CLIENT_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fornax {

// fornax train JOB.yaml [--history FILE] [--quiet]
int RunTrain(const std::vector<std::string>& args);
// fornax inspect MODEL.json [--batch-size N] [--loss LOSS] [--optimizer OPT] [--job JOB.yaml]
int RunInspect(const std::vector<std::string>& args);
// fornax predict --model FILE.keras --input X.npy|X.npz --output Y.npy|Y.npz [--batch-size N];
// a --model that names no file is a deployment on `coordinator` (below).
int RunPredict(const std::string& coordinator, const std::vector<std::string>& args);

extern const char kTrainHelp[];
extern const char kPredictHelp[];
extern const char kInspectHelp[];

// fornax serve --model-repository DIR [flags] (its --help: kServeHelp).
int RunServe(const std::vector<std::string>& args);
extern const char kServeHelp[];

// The service commands talk to fornax-coordinator; `coordinator` is the
// --coordinator given before the command ("" when none; see
// service_client.h for the fallbacks).
// fornax submit JOB.yaml [--name N] [--priority P] [--max-restarts N] ... [--follow]
int RunSubmit(const std::string& coordinator, const std::vector<std::string>& args);
// fornax jobs [--state S[,S]] [--all]
int RunJobs(const std::string& coordinator, const std::vector<std::string>& args);
// fornax get JOB
int RunGet(const std::string& coordinator, const std::vector<std::string>& args);
// fornax logs [-f] JOB
int RunLogs(const std::string& coordinator, const std::vector<std::string>& args);
// fornax cancel JOB
int RunCancel(const std::string& coordinator, const std::vector<std::string>& args);
// fornax checkpoints JOB
int RunCheckpoints(const std::string& coordinator, const std::vector<std::string>& args);
// fornax files JOB
int RunFiles(const std::string& coordinator, const std::vector<std::string>& args);
// fornax pull JOB [-o FILE] [--checkpoint ID | --file PATH]
int RunPull(const std::string& coordinator, const std::vector<std::string>& args);
// fornax datasets upload FILE | ls | rm SHA256
int RunDatasets(const std::string& coordinator, const std::vector<std::string>& args);
// fornax workers
int RunWorkers(const std::string& coordinator, const std::vector<std::string>& args);
// fornax deploy JOB --name NAME [--checkpoint ID] [--no-wait] [--timeout SECONDS]
int RunDeploy(const std::string& coordinator, const std::vector<std::string>& args);
// fornax deployments
int RunDeployments(const std::string& coordinator, const std::vector<std::string>& args);
// fornax undeploy NAME
int RunUndeploy(const std::string& coordinator, const std::vector<std::string>& args);
// Where deployment `name` answers now (Deployment.serving): the endpoint
// and version of a READY replica. While none is READY (a first load, a move
// after its worker was lost) it asks again every 100 ms until `deadline`.
// NotFound: no such deployment; FailedPrecondition: it FAILED and no earlier
// version answers; DeadlineExceeded: none was READY by then (why, and
// `last_failure`, the caller's last failed try, if any).
struct ServingTarget {
  std::string endpoint;
  int64_t version = 0;
};
absl::StatusOr<ServingTarget> FindServingTarget(const std::string& coordinator,
                                                const std::string& name, absl::Time deadline,
                                                const std::string& last_failure);

extern const char kSubmitHelp[];
extern const char kJobsHelp[];
extern const char kGetHelp[];
extern const char kLogsHelp[];
extern const char kCancelHelp[];
extern const char kCheckpointsHelp[];
extern const char kFilesHelp[];
extern const char kPullHelp[];
extern const char kDatasetsHelp[];
extern const char kWorkersHelp[];
extern const char kDeployHelp[];
extern const char kDeploymentsHelp[];
extern const char kUndeployHelp[];

}  // namespace fornax

#endif  // FORNAX_CLIENT_COMMANDS_H_
