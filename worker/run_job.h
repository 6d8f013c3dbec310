// `fornax-worker run-job`: the job process. The worker forks and execs
// itself with this subcommand for each assignment, so a job that crashes
// takes only itself down:
//   fornax-worker run-job --dir JOBDIR [--resume FILE.keras --initial-epoch N]
//       [--events-fd FD] [--checkpoint-every-steps N] [--threads N]
//       [--step-interval-ms MS]
// JOBDIR holds job.yaml (and what it names); checkpoints go to
// JOBDIR/checkpoints, the final model to JOBDIR/output/model.keras. The
// process works in JOBDIR/files: the files the job's callbacks write (a
// CSVLogger filename) go there, and a path that would leave it (absolute, or
// with '..') fails the job before it trains. Events
// (child_protocol.h) go to --events-fd (default 1: stdout, for running it by
// hand); step events at most every --step-interval-ms (default 100; 0: every
// step), the last step of each epoch always. Exit code 0 on success, 2 for a
// bad job (config or data), 1 for other errors, after an "error" event.
#ifndef FORNAX_WORKER_RUN_JOB_H_
#define FORNAX_WORKER_RUN_JOB_H_

#include <string>
#include <vector>

namespace fornax::worker {

// `args` are the arguments after "run-job".
int RunJobCommand(const std::vector<std::string>& args);

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_RUN_JOB_H_
