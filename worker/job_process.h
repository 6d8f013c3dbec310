// JobProcess: one job's `fornax-worker run-job` child. Start() forks and
// execs it with its stdout, stderr and events pipe (fd 3) connected to the
// worker; Wait() pumps them on the calling thread, handing each event
// (child_protocol.h) and each log line to the handlers, until the process
// exits. The child dies with the worker (PR_SET_PDEATHSIG), so a killed
// worker leaves no orphan training.
// Thread-safety: Wait() on one thread; Terminate() from any.
#ifndef FORNAX_WORKER_JOB_PROCESS_H_
#define FORNAX_WORKER_JOB_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "worker/child_protocol.h"

namespace fornax::worker {

struct JobProcessOptions {
  std::string binary;  // fornax-worker
  std::string job_dir;
  std::string resume_path;  // empty: a fresh start
  int initial_epoch = 0;    // with resume_path
  int64_t checkpoint_every_steps = 0;
  int threads = 0;
  int step_interval_ms = 100;
};

struct JobProcessHandlers {
  std::function<void(const ChildMessage&)> on_event;
  // stream: "stdout" or "stderr"; a line that is not a valid event comes
  // here too, as stream "worker".
  std::function<void(const std::string& line, const std::string& stream)> on_log;
};

struct ProcessExit {
  int exit_code = 0;  // -1 when killed by a signal
  int signal = 0;
};

class JobProcess {
 public:
  static absl::StatusOr<std::unique_ptr<JobProcess>> Start(const JobProcessOptions& options,
                                                           JobProcessHandlers handlers);
  ~JobProcess();

  ProcessExit Wait();
  // SIGTERM now, SIGKILL after `grace_ms` if it still runs (Wait enforces it).
  void Terminate(int grace_ms = 1000);
  // SIGKILL now.
  void Kill();
  pid_t pid() const { return pid_; }

 private:
  JobProcess() = default;
  void Pump();

  JobProcessHandlers handlers_;
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1, events_fd_ = -1;
  std::mutex mu_;
  bool reaped_ = false;
  int64_t kill_deadline_ms_ = 0;  // steady clock; 0: none
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_JOB_PROCESS_H_
