#include "worker/run_job.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/base/status_macros.h"
#include "engine/job/job_file.h"
#include "engine/job/job_runner.h"
#include "worker/child_protocol.h"
#include "worker/flags.h"

namespace fornax::worker {
namespace {

std::string FormatLogs(const Logs& logs) {
  std::string out;
  for (const auto& [name, value] : logs) absl::StrAppendFormat(&out, " - %s: %.4f", name, value);
  return out;
}

// Writes the runner's events to the events fd. The job's log (stdout) gets
// no per-epoch lines: the epoch events are what `fornax logs` shows.
class EventWriter : public JobObserver {
 public:
  EventWriter(int fd, double step_interval_seconds)
      : fd_(fd), step_interval_(step_interval_seconds) {}

  void OnStep(const StepEvent& e) override {
    const double now = Seconds();
    if (e.step < e.steps_per_epoch && now - last_step_ < step_interval_) return;
    last_step_ = now;
    Write(StepLine(e));
  }
  void OnEpoch(const EpochEvent& e) override { Write(EpochLine(e)); }
  absl::Status OnCheckpoint(const CheckpointEvent& e) override {
    Write(CheckpointLine(e));
    return absl::OkStatus();
  }
  void Write(std::string line) {
    line += '\n';
    // The worker reads the pipe continuously; a write error means it is
    // gone, and the process dies with it (PR_SET_PDEATHSIG).
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

 private:
  static double Seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int fd_;
  double step_interval_;
  double last_step_ = -1e9;
};

// Makes JOBDIR/files the working directory, so the files the job's callbacks
// write (a relative CSVLogger filename, ModelCheckpoint filepath) are the
// job's own: two jobs on a worker naming `log.csv` write two files, and none
// lands in the worker's directory. Paths that would leave it are refused.
absl::Status EnterFilesDir(const JobSpec& job, const std::string& dir) {
  // Building opens nothing (JobRunner::Create builds them again to run them).
  FORNAX_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Callback>> callbacks, BuildJobCallbacks(job));
  FORNAX_RETURN_IF_ERROR(CheckCallbackFilesStayInJobDir(job, callbacks));
  const std::string files = dir + "/files";
  std::error_code ec;
  std::filesystem::create_directories(files, ec);
  if (!ec) std::filesystem::current_path(files, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot enter ", files, ": ", ec.message()));
  return absl::OkStatus();
}

// Paths from the command line are made absolute: the process changes
// directory (EnterFilesDir) before it reads the data and the checkpoint.
absl::StatusOr<std::string> Absolute(const std::string& path) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) return absl::InternalError(absl::StrCat(path, ": ", ec.message()));
  return absolute.string();
}

absl::Status Run(const Flags& flags, EventWriter& events) {
  if (flags.Get("dir").empty()) return absl::InvalidArgumentError("run-job: --dir is required");
  FORNAX_ASSIGN_OR_RETURN(const std::string dir, Absolute(flags.Get("dir")));
  JobRunOptions options;
  if (!flags.Get("resume").empty()) {
    FORNAX_ASSIGN_OR_RETURN(options.resume_path, Absolute(flags.Get("resume")));
  }
  if (flags.Has("initial-epoch")) {
    FORNAX_ASSIGN_OR_RETURN(int64_t epoch, flags.GetInt("initial-epoch", 0, 0, 1 << 30));
    options.initial_epoch = static_cast<int>(epoch);
  }
  FORNAX_ASSIGN_OR_RETURN(options.checkpoint_every_steps,
                          flags.GetInt("checkpoint-every-steps", 0, 0, int64_t{1} << 40));
  FORNAX_ASSIGN_OR_RETURN(int64_t threads, flags.GetInt("threads", 0, 0, 256));
  options.threads = static_cast<int>(threads);
  options.checkpoint_dir = dir + "/checkpoints";

  FORNAX_ASSIGN_OR_RETURN(JobSpec job, ParseJobFile(dir + "/job.yaml"));
  FORNAX_RETURN_IF_ERROR(EnterFilesDir(job, dir));
  const int first_epoch = options.initial_epoch.value_or(job.fit.initial_epoch);
  std::cout << "training epochs " << first_epoch + 1 << ".." << job.fit.epochs << ", batch size "
            << job.fit.batch_size << ", backend " << job.compile.backend
            << (options.resume_path.empty() ? "" : ", resumed from a checkpoint") << std::endl;
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<JobRunner> runner,
                          JobRunner::Create(std::move(job), std::move(options)));
  FORNAX_RETURN_IF_ERROR(runner->Fit({}, &events).status());
  FORNAX_ASSIGN_OR_RETURN(std::optional<Logs> evaluate, runner->Evaluate());
  if (evaluate) std::cout << "evaluate" << FormatLogs(*evaluate) << std::endl;
  std::cout << "traces: " << runner->trainer().retrace_count() << std::endl;
  std::error_code ec;
  std::filesystem::create_directories(dir + "/output", ec);
  return runner->SaveModel(dir + "/output/model.keras", &events);
}

int ExitCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kDataLoss:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

int RunJobCommand(const std::vector<std::string>& args) {
  absl::StatusOr<Flags> flags =
      Flags::Parse("run-job", args,
                   {"dir", "resume", "initial-epoch", "events-fd", "checkpoint-every-steps",
                    "threads", "step-interval-ms"});
  absl::StatusOr<int64_t> fd = flags.ok() ? flags->GetInt("events-fd", 1, 1, 1 << 20) : 1;
  absl::StatusOr<int64_t> interval_ms =
      flags.ok() ? flags->GetInt("step-interval-ms", 100, 0, 1 << 30) : 0;
  EventWriter events(fd.ok() ? static_cast<int>(*fd) : 1,
                     interval_ms.ok() ? static_cast<double>(*interval_ms) / 1000 : 0.0);
  absl::Status status = flags.status();
  if (status.ok()) status = fd.status();
  if (status.ok()) status = interval_ms.status();
  if (status.ok()) status = Run(*flags, events);
  if (status.ok()) return 0;
  std::cerr << "fornax-worker run-job: error: " << status.message() << std::endl;
  events.Write(ErrorLine(std::string(status.message())));
  return ExitCode(status);
}

}  // namespace fornax::worker
