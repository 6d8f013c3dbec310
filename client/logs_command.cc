// `fornax logs [-f] JOB`: a job's events as `fornax train` would print them.
#include <unistd.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/event_renderer.h"
#include "client/job_logs.h"
#include "client/job_watcher.h"
#include "client/service_cli.h"

namespace fornax {

const char kLogsHelp[] = R"(usage: fornax [--coordinator ADDR] logs [-f|--follow] JOB

Prints a job's event log: state changes with their reasons, Keras-style
progress bars and per-epoch metric lines (as `fornax train` prints them),
log lines and checkpoints. Without -f it prints what happened so far; with
-f it keeps following until the job ends, reconnecting with backoff when the
stream drops (resuming after the last event seen: no gaps, no duplicates);
it also waits for a coordinator that is not up yet or restarting, giving up
after 30 s without an answer.

With -f the exit code tells the outcome: 0 succeeded, 1 failed or cancelled.
)";

int ShowJobLogs(ServiceClient& client, const std::string& job_id, bool follow) {
  WatchOptions options;
  options.notices = &std::cerr;
  // Following waits for a coordinator that is (re)starting; a one-off look
  // fails fast.
  absl::StatusOr<v1::Job> job =
      follow ? GetJobWaiting(client, job_id, options) : client.GetJob(job_id);
  if (!job.ok()) return ReportServiceError(job.status());
  if (!follow) {
    if (job->last_sequence() == 0) return kExitOk;  // nothing happened yet
    options.until_sequence = job->last_sequence();
  }
  EventRenderer renderer(std::cout, isatty(STDOUT_FILENO) != 0,
                         EpochsOfJobYaml(job->spec().job_yaml()));
  absl::Status status = WatchJobEvents(client.jobs(), job_id, options,
                                       [&](const v1::JobEvent& event) { renderer.Render(event); });
  if (!status.ok()) return ReportServiceError(client.Annotate(status));
  if (!follow) return kExitOk;
  const std::optional<v1::StateChange>& state = renderer.last_state();
  if (state && state->state() == v1::JOB_STATE_SUCCEEDED) return kExitOk;
  std::cerr << "fornax: error: job " << job_id << " "
            << (state ? DescribeState(state->state(), state->reason()) : std::string("ended"))
            << std::endl;
  return kExitInternal;
}

int RunLogs(const std::string& coordinator, const std::vector<std::string>& args) {
  absl::StatusOr<ServiceArgs> parsed =
      ParseServiceArgs("logs", args, coordinator, {}, {"follow"}, {{"-f", "--follow"}});
  if (!parsed.ok()) return ReportError(parsed.status());
  if (parsed->help) {
    std::cout << kLogsHelp;
    return kExitOk;
  }
  absl::Status status = ExpectPositional(*parsed, 1, "fornax logs [-f] JOB");
  if (!status.ok()) return ReportError(status);
  ServiceClient client(parsed->coordinator);
  return ShowJobLogs(client, parsed->parsed.positional[0], parsed->parsed.switches.count("follow"));
}

}  // namespace fornax
