// fornax-coordinator: serves fornax.v1.Jobs, Datasets and Workers until
// SIGTERM or SIGINT. Flags (docs/coordinator.md):
//   --listen 127.0.0.1:7070 --data-dir DIR --metrics-listen 127.0.0.1:9464
//   --lease-timeout-ms 10000 --heartbeat-interval-ms 1000
//   --retry-backoff-ms 1000 --aging-interval-ms 60000 --max-watch-streams 1000
//   --max-job-files-bytes 268435456 --max-job-files 10000
//   --max-checkpoint-bytes 4294967296 --artifact-sweep-interval-s 3600
// Prints "listening grpc=HOST:PORT metrics=HOST:PORT" once serving.
#include <signal.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/coordinator_server.h"

namespace {

constexpr char kUsage[] =
    "usage: fornax-coordinator --data-dir DIR [--listen 127.0.0.1:7070] "
    "[--metrics-listen 127.0.0.1:9464] [--lease-timeout-ms 10000] "
    "[--heartbeat-interval-ms 1000] [--retry-backoff-ms 1000] [--aging-interval-ms 60000] "
    "[--max-watch-streams 1000] [--max-job-files-bytes 268435456] [--max-job-files 10000] "
    "[--max-checkpoint-bytes 4294967296] [--artifact-sweep-interval-s 3600]\n";

int Fail(const std::string& message) {
  std::cerr << "fornax-coordinator: error: " << message << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"listen", "127.0.0.1:7070"},           {"data-dir", ""},
      {"metrics-listen", "127.0.0.1:9464"},   {"lease-timeout-ms", "10000"},
      {"heartbeat-interval-ms", "1000"},      {"retry-backoff-ms", "1000"},
      {"aging-interval-ms", "60000"},         {"max-watch-streams", "1000"},
      {"max-job-files-bytes", "268435456"},   {"max-job-files", "10000"},
      {"max-checkpoint-bytes", "4294967296"}, {"artifact-sweep-interval-s", "3600"}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (!absl::StartsWith(arg, "--")) return Fail(absl::StrCat("unexpected argument '", arg, "'"));
    std::string name = arg.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return Fail(absl::StrCat("--", name, ": missing value"));
    }
    if (flags.count(name) == 0) return Fail(absl::StrCat("unknown flag --", name));
    flags[name] = value;
  }
  if (flags["data-dir"].empty()) return Fail("--data-dir: required");
  std::map<std::string, int64_t> numbers;
  for (const char* name :
       {"lease-timeout-ms", "heartbeat-interval-ms", "retry-backoff-ms", "aging-interval-ms",
        "max-watch-streams", "max-job-files-bytes", "max-job-files", "max-checkpoint-bytes"}) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(flags[name], &n) || n <= 0) {
      return Fail(
          absl::StrCat("--", name, ": expected a positive integer, got '", flags[name], "'"));
    }
    numbers[name] = n;
  }
  // 0 turns the sweep off; at most a year, so its milliseconds cannot overflow.
  constexpr int64_t kYearS = int64_t{365} * 24 * 3600;
  int64_t sweep_s = 0;
  if (!absl::SimpleAtoi(flags["artifact-sweep-interval-s"], &sweep_s) || sweep_s < 0 ||
      sweep_s > kYearS) {
    return Fail(absl::StrCat("--artifact-sweep-interval-s: expected 0 (off) to ", kYearS,
                             " seconds, got '", flags["artifact-sweep-interval-s"], "'"));
  }
  fornax::server::ServerOptions options;
  options.listen = flags["listen"];
  options.metrics_listen = flags["metrics-listen"];
  options.max_watch_streams = static_cast<int>(numbers["max-watch-streams"]);
  options.coordinator.data_dir = flags["data-dir"];
  options.coordinator.lease_timeout_ms = numbers["lease-timeout-ms"];
  options.coordinator.heartbeat_interval_ms = numbers["heartbeat-interval-ms"];
  options.coordinator.retry_backoff_ms = numbers["retry-backoff-ms"];
  options.coordinator.scheduler.aging_interval_ms = numbers["aging-interval-ms"];
  options.coordinator.max_job_files_bytes = numbers["max-job-files-bytes"];
  options.coordinator.max_job_files = numbers["max-job-files"];
  options.coordinator.max_checkpoint_bytes = numbers["max-checkpoint-bytes"];
  options.coordinator.artifact_sweep_interval_ms = sweep_s * 1000;

  // Block the signals before any thread starts, then wait for them here.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = fornax::server::CoordinatorServer::Start(options);
  if (!server.ok()) {
    std::cerr << "fornax-coordinator: error: " << server.status().message() << "\n";
    return server.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "listening grpc=" << (*server)->grpc_address()
            << " metrics=" << (*server)->metrics_address() << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  std::cerr << "fornax-coordinator: signal " << signal << ", shutting down\n";
  (*server)->Shutdown();
  return 0;
}
