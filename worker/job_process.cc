#include "worker/job_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace fornax::worker {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobProcess>> JobProcess::Start(const JobProcessOptions& options,
                                                              JobProcessHandlers handlers) {
  std::vector<std::string> args = {options.binary,
                                   "run-job",
                                   "--dir",
                                   options.job_dir,
                                   "--events-fd",
                                   "3",
                                   "--checkpoint-every-steps",
                                   std::to_string(options.checkpoint_every_steps),
                                   "--threads",
                                   std::to_string(options.threads),
                                   "--step-interval-ms",
                                   std::to_string(options.step_interval_ms)};
  if (!options.resume_path.empty()) {
    args.insert(args.end(), {"--resume", options.resume_path, "--initial-epoch",
                             std::to_string(options.initial_epoch)});
  }
  // argv is built before fork: the child may only make async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipes[3][2];
  for (int i = 0; i < 3; ++i) {
    if (::pipe2(pipes[i], O_CLOEXEC) != 0) {
      const int err = errno;
      for (int j = 0; j < i; ++j) ::close(pipes[j][0]), ::close(pipes[j][1]);
      return absl::InternalError(absl::StrCat("pipe: ", std::strerror(err)));
    }
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the worker died before prctl
    // The worker blocks SIGTERM/SIGINT (a thread waits for them) and ignores
    // SIGPIPE; the job gets the default dispositions back.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(pipes[0][1], 1);
    ::dup2(pipes[1][1], 2);
    ::dup2(pipes[2][1], 3);
    // Everything else the worker had open is O_CLOEXEC (gRPC, pipes) or
    // closed here; the job sees only its three descriptors.
    ::close_range(4, ~0U, 0);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 3; ++i) ::close(pipes[i][1]);
  if (pid < 0) {
    const int err = errno;
    for (int i = 0; i < 3; ++i) ::close(pipes[i][0]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(err)));
  }
  std::unique_ptr<JobProcess> process(new JobProcess());
  process->handlers_ = std::move(handlers);
  process->pid_ = pid;
  process->out_fd_ = pipes[0][0];
  process->err_fd_ = pipes[1][0];
  process->events_fd_ = pipes[2][0];
  return process;
}

JobProcess::~JobProcess() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!reaped_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      reaped_ = true;
    }
  }
  CloseFd(out_fd_);
  CloseFd(err_fd_);
  CloseFd(events_fd_);
}

void JobProcess::Terminate(int grace_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (reaped_) return;
  ::kill(pid_, SIGTERM);
  const int64_t deadline = NowMs() + grace_ms;
  if (kill_deadline_ms_ == 0 || deadline < kill_deadline_ms_) kill_deadline_ms_ = deadline;
}

void JobProcess::Kill() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!reaped_) ::kill(pid_, SIGKILL);
}

void JobProcess::Pump() {
  struct Stream {
    int* fd;
    std::string name;
    std::string partial;
  };
  Stream streams[3] = {{&out_fd_, "stdout", {}}, {&err_fd_, "stderr", {}}, {&events_fd_, "", {}}};
  auto emit = [&](Stream& s, const std::string& line) {
    if (!s.name.empty()) {
      if (handlers_.on_log) handlers_.on_log(line, s.name);
      return;
    }
    absl::StatusOr<ChildMessage> message = ParseChildLine(line);
    if (!message.ok()) {
      if (handlers_.on_log) handlers_.on_log(std::string(message.status().message()), "worker");
    } else if (handlers_.on_event) {
      handlers_.on_event(*message);
    }
  };
  char buffer[1 << 16];
  while (out_fd_ >= 0 || err_fd_ >= 0 || events_fd_ >= 0) {
    pollfd fds[3];
    int n = 0;
    Stream* polled[3];
    for (Stream& s : streams) {
      if (*s.fd < 0) continue;
      fds[n] = {*s.fd, POLLIN, 0};
      polled[n++] = &s;
    }
    int timeout = 200;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (kill_deadline_ms_ != 0) {
        const int64_t left = kill_deadline_ms_ - NowMs();
        if (left <= 0) {
          ::kill(pid_, SIGKILL);
          kill_deadline_ms_ = 0;
        } else if (left < timeout) {
          timeout = static_cast<int>(left);
        }
      }
    }
    if (::poll(fds, static_cast<nfds_t>(n), timeout) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      Stream& s = *polled[i];
      const ssize_t got = ::read(*s.fd, buffer, sizeof(buffer));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (!s.partial.empty()) emit(s, s.partial);
        s.partial.clear();
        CloseFd(*s.fd);
        continue;
      }
      s.partial.append(buffer, static_cast<size_t>(got));
      size_t start = 0;
      for (size_t nl; (nl = s.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
        emit(s, s.partial.substr(start, nl - start));
      }
      s.partial.erase(0, start);
    }
  }
}

ProcessExit JobProcess::Wait() {
  Pump();
  // Reaped under the lock, so Terminate never signals a recycled pid; polled
  // so a process that closed its pipes yet runs on still gets its SIGKILL.
  int status = 0;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      const pid_t done = ::waitpid(pid_, &status, WNOHANG);
      if (done == pid_ || (done < 0 && errno != EINTR)) {
        reaped_ = true;
        break;
      }
      if (kill_deadline_ms_ != 0 && NowMs() >= kill_deadline_ms_) {
        ::kill(pid_, SIGKILL);
        kill_deadline_ms_ = 0;
      }
    }
    ::usleep(5000);
  }
  ProcessExit exit;
  if (WIFSIGNALED(status)) {
    exit.exit_code = -1;
    exit.signal = WTERMSIG(status);
  } else {
    exit.exit_code = WEXITSTATUS(status);
  }
  return exit;
}

}  // namespace fornax::worker
