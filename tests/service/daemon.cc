#include "tests/service/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/data/file_util.h"

namespace fornax::service_testing {
namespace {

// "listening grpc=A metrics=B" -> {A, B}; false for any other line.
bool ParseListening(const std::string& line, std::string* grpc, std::string* metrics) {
  if (line.rfind("listening ", 0) != 0) return false;
  for (absl::string_view field : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&field, "grpc=")) *grpc = std::string(field);
    if (absl::ConsumePrefix(&field, "metrics=")) *metrics = std::string(field);
  }
  return !grpc->empty();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Spawn(const std::string& binary,
                                                      const std::vector<std::string>& args,
                                                      const std::string& log_path) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError(std::strerror(errno));
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat(log_path, ": ", std::strerror(errno)));
  // argv is built before fork: only async-signal-safe calls in the child.
  std::vector<std::string> storage = {binary};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(out[1], STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  close(log_fd);
  return std::unique_ptr<Daemon>(new Daemon(pid, out[0], log_path));
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const std::string& binary,
                                                      const std::vector<std::string>& args,
                                                      const std::string& log_path,
                                                      absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<Daemon>> spawned = Spawn(binary, args, log_path);
  if (!spawned.ok()) return spawned.status();
  std::unique_ptr<Daemon> d = std::move(*spawned);
  std::unique_lock<std::mutex> lock(d->mu_);
  const bool ready = d->listening_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] {
    return !d->grpc_address_.empty() || d->stdout_closed_;
  });
  if (!d->grpc_address_.empty()) return d;
  lock.unlock();
  return absl::UnavailableError(absl::StrCat(binary, ready ? " exited" : " timed out",
                                             " before its listening line; log:\n",
                                             ReadFileToString(log_path).value_or("")));
}

Daemon::Daemon(pid_t pid, int stdout_fd, std::string log_path)
    : pid_(pid), stdout_fd_(stdout_fd), log_path_(std::move(log_path)) {
  reader_ = std::thread([this] { ReadStdout(); });
}

Daemon::~Daemon() {
  if (!exited_) {
    Signal(SIGTERM);
    if (!Wait(absl::Seconds(10)).ok()) Kill();
  }
  stop_reading_ = true;
  reader_.join();
  close(stdout_fd_);
}

void Daemon::ReadStdout() {
  std::ofstream log(log_path_, std::ios::app);
  std::string line;
  char buf[4096];
  while (!stop_reading_) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) break;
    log.write(buf, n);
    log.flush();
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') {
        line.push_back(buf[i]);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (grpc_address_.empty() && ParseListening(line, &grpc_address_, &metrics_address_)) {
        listening_cv_.notify_all();
      }
      line.clear();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  stdout_closed_ = true;
  listening_cv_.notify_all();
}

void Daemon::Signal(int sig) const {
  if (!exited_) kill(pid_, sig);
}

absl::StatusOr<int> Daemon::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!exited_) {
    const pid_t r = waitpid(pid_, &wait_status_, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      exited_ = true;
      break;
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("pid ", pid_, " still running"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return wait_status_;
}

void Daemon::Kill() {
  Signal(SIGKILL);
  (void)Wait(absl::InfiniteDuration());
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::vector<pid_t> ChildPids(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code ec;
  const std::filesystem::path tasks = absl::StrCat("/proc/", pid, "/task");
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "children");
    pid_t child;
    while (in >> child) children.push_back(child);
  }
  return children;
}

bool ProcessAlive(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text;
  if (!std::getline(stat, text)) return false;
  // "PID (comm) STATE ...": the state follows the last ')'.
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

}  // namespace fornax::service_testing
