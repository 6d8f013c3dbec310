// Shows a job's event log (`fornax logs`, `fornax submit --follow`),
// rendered by EventRenderer and fetched by WatchJobEvents (reconnecting).
#ifndef FORNAX_CLIENT_JOB_LOGS_H_
#define FORNAX_CLIENT_JOB_LOGS_H_

#include <string>

#include "client/service_client.h"

namespace fornax {

// Prints the events so far, and with `follow` the live ones until the job
// ends; `follow` also waits (bounded) for a coordinator that is unavailable
// (GetJobWaiting), without it an unavailable coordinator fails at once. Returns the exit code: 0,
// or with `follow` 1 (and one "fornax: error:" line) when the job failed or was cancelled; RPC
// errors as ReportServiceError.
int ShowJobLogs(ServiceClient& client, const std::string& job_id, bool follow);

}  // namespace fornax

#endif  // FORNAX_CLIENT_JOB_LOGS_H_
