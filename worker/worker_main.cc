// fornax-worker: the daemon (worker.h), or `fornax-worker run-job`, the job
// process it starts for each assignment (run_job.h).
//   fornax-worker --coordinator 127.0.0.1:7070 --name NAME --work-dir DIR
//       --metrics-listen 127.0.0.1:9465 --cpus N --memory-bytes N --gpus N
//       --slots 1 [--step-interval-ms 100] [--inference-listen 127.0.0.1:0]
//       [--drain-timeout 20] [--model-loads 2] [--old-version-grace 5]
//       [--max-job-files-bytes 268435456] [--max-job-files 10000]
// Once its metrics endpoint listens it prints one line to stdout:
//   listening grpc=- metrics=127.0.0.1:PORT inference=127.0.0.1:PORT
// (it serves no gRPC of its own; inference=- when hosting is off). Logs go to stderr;
// SIGTERM/SIGINT stop it gracefully: jobs are preempted at once, deployments
// that move are served here until READY elsewhere (at most --drain-timeout
// seconds, 0: not at all); a second SIGTERM/SIGINT ends that wait.
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/flags.h"
#include "worker/run_job.h"
#include "worker/worker.h"

namespace fornax::worker {
namespace {

const char kUsage[] =
    "usage: fornax-worker --coordinator HOST:PORT --name NAME --work-dir DIR\n"
    "           [--metrics-listen HOST:PORT] [--cpus N] [--memory-bytes N] [--gpus N]\n"
    "           [--slots N] [--step-interval-ms MS] [--inference-listen HOST:PORT|none]\n"
    "           [--drain-timeout SECONDS] [--model-loads N] [--old-version-grace SECONDS]\n"
    "           [--max-job-files-bytes N] [--max-job-files N]\n"
    "       fornax-worker run-job --dir JOBDIR [--resume FILE.keras --initial-epoch N]\n";

std::string SelfPath(const char* argv0) {
  char path[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return argv0;
  return std::string(path, static_cast<size_t>(n));
}

absl::StatusOr<WorkerConfig> ParseConfig(const std::vector<std::string>& args) {
  absl::StatusOr<Flags> flags =
      Flags::Parse("fornax-worker", args,
                   {"coordinator", "name", "work-dir", "metrics-listen", "cpus", "memory-bytes",
                    "gpus", "slots", "step-interval-ms", "inference-listen", "drain-timeout",
                    "model-loads", "old-version-grace", "max-job-files-bytes", "max-job-files"});
  if (!flags.ok()) return flags.status();
  WorkerConfig config;
  config.coordinator = flags->Get("coordinator", config.coordinator);
  config.name = flags->Get("name");
  config.work_dir = flags->Get("work-dir");
  if (config.work_dir.empty()) {
    return absl::InvalidArgumentError("fornax-worker: --work-dir is required");
  }
  config.metrics_listen = flags->Get("metrics-listen", config.metrics_listen);
  config.inference_listen = flags->Get("inference-listen", config.inference_listen);
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const int64_t memory = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
  absl::StatusOr<int64_t> cpus = flags->GetInt("cpus", cores, 1, 4096);
  absl::StatusOr<int64_t> memory_bytes = flags->GetInt("memory-bytes", memory, 1, INT64_MAX);
  absl::StatusOr<int64_t> gpus = flags->GetInt("gpus", 0, 0, 64);
  absl::StatusOr<int64_t> slots = flags->GetInt("slots", 1, 1, 1024);
  absl::StatusOr<int64_t> interval = flags->GetInt("step-interval-ms", 100, 0, 60000);
  absl::StatusOr<int64_t> drain = flags->GetInt("drain-timeout", 20, 0, 3600);
  absl::StatusOr<int64_t> loads = flags->GetInt("model-loads", 2, 1, 64);
  absl::StatusOr<int64_t> grace = flags->GetInt("old-version-grace", 5, 0, 3600);
  absl::StatusOr<int64_t> files_bytes =
      flags->GetInt("max-job-files-bytes", config.max_job_files_bytes, 0, INT64_MAX);
  absl::StatusOr<int64_t> files =
      flags->GetInt("max-job-files", config.max_job_files, 0, INT64_MAX);
  for (const absl::Status& s :
       {cpus.status(), memory_bytes.status(), gpus.status(), slots.status(), interval.status(),
        drain.status(), loads.status(), grace.status(), files_bytes.status(), files.status()}) {
    if (!s.ok()) return s;
  }
  config.capacity.set_cpus(static_cast<int>(*cpus));
  config.capacity.set_memory_bytes(*memory_bytes);
  config.capacity.set_gpus(static_cast<int>(*gpus));
  config.capacity.set_slots(static_cast<int>(*slots));
  config.step_interval_ms = static_cast<int>(*interval);
  config.drain_timeout_ms = *drain * 1000;
  config.model_loads = static_cast<int>(*loads);
  config.old_version_grace = std::chrono::seconds(*grace);
  config.max_job_files_bytes = *files_bytes;
  config.max_job_files = *files;
  return config;
}

int RunDaemon(const std::vector<std::string>& args, const char* argv0) {
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  absl::StatusOr<WorkerConfig> config = ParseConfig(args);
  if (!config.ok()) {
    std::cerr << "fornax-worker: error: " << config.status().message() << "\n" << kUsage;
    return 2;
  }
  config->binary = SelfPath(argv0);
  // SIGTERM/SIGINT go to one thread (blocked everywhere else, and in every
  // thread started from here on); a dead peer's pipe is an error, not a signal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Create(*std::move(config));
  if (!worker.ok()) {
    std::cerr << "fornax-worker: error: " << worker.status().message() << "\n";
    return 1;
  }
  const std::string inference = (*worker)->inference_address();
  std::cout << "listening grpc=- metrics=" << (*worker)->metrics_address()
            << " inference=" << (inference.empty() ? "-" : inference) << std::endl;
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::atomic<bool> done{false};
    std::thread shutdown([&] {
      (*worker)->Shutdown();
      done = true;
    });
    // A second signal while it shuts down ends the drain (the wait for
    // deployments to be READY elsewhere) at once.
    const timespec poll = {0, 100 * 1000 * 1000};
    while (!done) {
      if (sigtimedwait(&stop_signals, nullptr, &poll) > 0) (*worker)->StopDraining();
    }
    shutdown.join();
  });
  (*worker)->Run();
  // Run returns only after Shutdown; the signal thread is done or finishing.
  signals.join();
  return 0;
}

}  // namespace
}  // namespace fornax::worker

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "run-job") {
    return fornax::worker::RunJobCommand({args.begin() + 1, args.end()});
  }
  return fornax::worker::RunDaemon(args, argv[0]);
}
