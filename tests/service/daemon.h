// Daemon: a fornax-coordinator or fornax-worker started as a real child
// process for the service tests and the service benchmark. It waits for the
// one line every daemon prints once serving,
//   listening grpc=127.0.0.1:PORT metrics=127.0.0.1:PORT
// and keeps the rest of its stdout and all of its stderr in a log file that a
// failing test prints. The child gets PR_SET_PDEATHSIG(SIGKILL), so a crashed
// test leaves no daemon behind.
// Thread-safety: one thread drives a Daemon; an internal thread reads stdout.
#ifndef FORNAX_TESTS_SERVICE_DAEMON_H_
#define FORNAX_TESTS_SERVICE_DAEMON_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fornax::service_testing {

class Daemon {
 public:
  // Starts `binary args...` and waits up to `timeout` for the listening line.
  // stdout and stderr are appended to `log_path`.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const std::string& binary,
                                                       const std::vector<std::string>& args,
                                                       const std::string& log_path,
                                                       absl::Duration timeout = absl::Seconds(30));
  // Starts a process that prints no listening line (Prometheus) and returns
  // at once.
  static absl::StatusOr<std::unique_ptr<Daemon>> Spawn(const std::string& binary,
                                                       const std::vector<std::string>& args,
                                                       const std::string& log_path);
  // SIGTERM, then SIGKILL when it has not exited within 10 s.
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& metrics_address() const { return metrics_address_; }

  // kill(pid, sig) without waiting.
  void Signal(int sig) const;
  // Waits for the process to exit; its wait status, or DeadlineExceeded.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  // SIGKILL and reap: `kill -9`.
  void Kill();
  bool exited() const { return exited_; }

 private:
  Daemon(pid_t pid, int stdout_fd, std::string log_path);
  void ReadStdout();

  pid_t pid_;
  int stdout_fd_;
  std::string log_path_;
  bool exited_ = false;
  int wait_status_ = 0;
  std::atomic<bool> stop_reading_{false};
  std::mutex mu_;
  std::condition_variable listening_cv_;
  bool stdout_closed_ = false;  // guarded by mu_
  std::string grpc_address_;    // guarded by mu_ until the listening line arrived
  std::string metrics_address_;
  std::thread reader_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (for a coordinator that
// must come back on the same address after a restart).
int FreePort();

// The direct children of `pid` (from /proc/PID/task/*/children).
std::vector<pid_t> ChildPids(pid_t pid);

// Whether `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);

}  // namespace fornax::service_testing

#endif  // FORNAX_TESTS_SERVICE_DAEMON_H_
