#include "worker/job_attempt.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/data/sha256.h"
#include "worker/job_dir.h"

namespace fornax::worker {
namespace {

constexpr size_t kLastLines = 20;

std::string SignalName(int sig) {
  const char* name = ::sigabbrev_np(sig);
  return name != nullptr ? absl::StrCat("SIG", name) : absl::StrCat("signal ", sig);
}

}  // namespace

JobAttempt::JobAttempt(fornax::v1::Assignment assignment, const AttemptEnv* env)
    : assignment_(std::move(assignment)),
      env_(env),
      outbox_(assignment_.job_id(), assignment_.attempt()) {}

std::string JobAttempt::dir() const {
  return absl::StrCat(env_->work_dir, "/jobs/", assignment_.job_id(), "-", assignment_.attempt());
}

absl::Status JobAttempt::WithSession(const std::function<absl::Status(const std::string&)>& call) {
  int backoff_ms = 100;
  while (!stopped()) {
    std::optional<std::string> session = env_->link->WaitSession(std::chrono::milliseconds(200));
    if (!session) continue;
    absl::Status status = call(*session);
    if (status.ok() || !IsTransient(status)) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    backoff_ms = std::min(backoff_ms * 2, 2000);
  }
  return absl::CancelledError("the attempt was stopped");
}

absl::Status JobAttempt::Prepare(std::string* resume_path) {
  const std::string cache = env_->work_dir + "/datasets";
  FetchFn fetch = [this](const std::string& sha, const std::string& dest) {
    return WithSession([&](const std::string& session) {
      return env_->link->DownloadDataset(session, sha, dest);
    });
  };
  FORNAX_RETURN_IF_ERROR(MaterializeJobDir(assignment_.spec(), dir(), cache, fetch));
  const fornax::v1::CheckpointRecord& resume = assignment_.resume_from();
  if (resume.checkpoint_id().empty()) return absl::OkStatus();
  *resume_path = dir() + "/resume.keras";
  FetchFn fetch_checkpoint = [this, &resume](const std::string&, const std::string& dest) {
    return WithSession([&](const std::string& session) {
      return env_->link->DownloadCheckpoint(session, resume.checkpoint_id(), dest);
    });
  };
  if (resume.sha256().empty()) return fetch_checkpoint("", *resume_path);
  return FetchVerified(resume.sha256(), resume.size_bytes(), *resume_path, fetch_checkpoint);
}

void JobAttempt::Emit(fornax::v1::WorkerEvent event) {
  outbox_.AddEvent(std::move(event));
  env_->on_event();
}

void JobAttempt::OnLog(const std::string& line, const std::string& stream) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_lines_.push_back(line);
    if (last_lines_.size() > kLastLines) last_lines_.pop_front();
  }
  fornax::v1::WorkerEvent event;
  event.mutable_log()->set_text(line);
  event.mutable_log()->set_stream(stream);
  Emit(std::move(event));
}

void JobAttempt::OnChildEvent(const ChildMessage& m) {
  const std::string& job = assignment_.job_id();
  fornax::v1::WorkerEvent event;
  if (m.step) {
    env_->metrics->OnStep(job, *m.step);
    {
      std::lock_guard<std::mutex> lock(mu_);
      epoch_ = m.step->epoch();
      global_step_ = m.step->global_step();
    }
    *event.mutable_step() = *m.step;
    Emit(std::move(event));
  } else if (m.epoch) {
    env_->metrics->OnEpoch(job, *m.epoch, m.retraces);
    *event.mutable_epoch() = *m.epoch;
    Emit(std::move(event));
  } else if (m.checkpoint) {
    env_->metrics->OnCheckpoint(job, m.checkpoint->record.size_bytes(), m.checkpoint->seconds);
    absl::StatusOr<FileDigest> sha = Sha256File(m.checkpoint->path);
    if (!sha.ok()) {
      OnLog(absl::StrCat("checkpoint not uploaded: ", sha.status().message()), "worker");
      return;
    }
    CheckpointUpload upload;
    upload.path = m.checkpoint->path;
    fornax::v1::UploadCheckpointHeader& h = upload.header;
    h.set_epoch(m.checkpoint->record.epoch());
    h.set_global_step(m.checkpoint->record.global_step());
    h.set_sha256(sha->sha256);
    h.set_size_bytes(m.checkpoint->record.size_bytes());
    *h.mutable_metrics() = m.checkpoint->record.metrics();
    h.set_final(m.checkpoint->record.final());
    {
      std::lock_guard<std::mutex> lock(mu_);
      saw_final_ = saw_final_ || h.final();
    }
    outbox_.AddCheckpoint(std::move(upload));
    env_->on_event();
  } else if (m.error) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = *m.error;
  }
}

void JobAttempt::Run() {
  std::string resume_path;
  absl::Status prepared = Prepare(&resume_path);
  if (!prepared.ok() || stopped()) return Finish(prepared, nullptr);

  JobProcessOptions options;
  options.binary = env_->binary;
  options.job_dir = dir();
  options.resume_path = resume_path;
  options.initial_epoch = assignment_.resume_from().epoch();
  options.checkpoint_every_steps = assignment_.spec().checkpoint_every_steps();
  options.threads = assignment_.spec().resources().cpus();
  options.step_interval_ms = env_->step_interval_ms;
  JobProcessHandlers handlers;
  handlers.on_event = [this](const ChildMessage& m) { OnChildEvent(m); };
  handlers.on_log = [this](const std::string& line, const std::string& stream) {
    OnLog(line, stream);
  };
  absl::StatusOr<std::unique_ptr<JobProcess>> process = JobProcess::Start(options, handlers);
  if (!process.ok()) return Finish(process.status(), nullptr);
  JobProcess* p = process->get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    process_ = *std::move(process);
  }
  // A stop that came in while the process started.
  if (cancelled_) p->Terminate();
  if (interrupted_ || abandoned_) p->Kill();
  env_->on_process(+1);
  fornax::v1::WorkerEvent running;
  fornax::v1::StateChange* state = running.mutable_state();
  state->set_state(fornax::v1::JOB_STATE_RUNNING);
  state->set_worker_id(env_->worker_id);
  state->set_attempt(assignment_.attempt());
  state->set_reason(resume_path.empty()
                        ? absl::StrCat("running on ", env_->worker_id)
                        : absl::StrCat("running on ", env_->worker_id, ", resumed at epoch ",
                                       assignment_.resume_from().epoch()));
  Emit(std::move(running));
  const ProcessExit exit = p->Wait();
  env_->on_process(-1);
  Finish(absl::OkStatus(), &exit);
}

void JobAttempt::QueueFiles() {
  // Regular files only, links not followed: a job could link to any file
  // the worker can read (a dataset in the cache, the worker's own files).
  const std::filesystem::path root = dir() + "/files";
  std::vector<std::filesystem::path> paths;
  int64_t count = 0;  // all of them; `paths` stops past the cap
  int64_t total = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(root, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code type_ec;
    if (it->symlink_status(type_ec).type() != std::filesystem::file_type::regular) continue;
    if (++count <= env_->max_job_files) paths.push_back(it->path());
    total += static_cast<int64_t>(it->file_size(type_ec));
  }
  std::string refusal;
  if (count > env_->max_job_files) {
    refusal = absl::StrCat("files not uploaded: JOBDIR/files holds ", count,
                           " files, more than this worker's --max-job-files ", env_->max_job_files);
  } else if (total > env_->max_job_files_bytes) {
    refusal =
        absl::StrCat("files not uploaded: JOBDIR/files holds ", total, " bytes in ", count,
                     count == 1 ? " file" : " files",
                     ", more than this worker's --max-job-files-bytes ", env_->max_job_files_bytes);
  }
  if (!refusal.empty()) {
    std::cerr << "job " << assignment_.job_id() << "-" << assignment_.attempt() << ": " << refusal
              << std::endl;
    return OnLog(refusal, "worker");
  }
  std::sort(paths.begin(), paths.end());
  for (const std::filesystem::path& path : paths) {
    const std::string relative = path.lexically_relative(root).generic_string();
    absl::StatusOr<FileDigest> digest = Sha256File(path.string());
    if (!digest.ok()) {
      OnLog(absl::StrCat("file ", relative, " not uploaded: ", digest.status().message()),
            "worker");
      continue;
    }
    JobFileUpload upload;
    upload.path = path.string();
    upload.header.set_path(relative);
    upload.header.set_sha256(digest->sha256);
    upload.header.set_size_bytes(digest->size_bytes);
    outbox_.AddFile(std::move(upload));
  }
}

void JobAttempt::Finish(const absl::Status& prepare, const ProcessExit* exit) {
  if (abandoned_) {
    outbox_.Close();
    finished_ = true;
    env_->on_event();
    return;
  }
  {
    // The process is gone: a checkpoint refused from now on stops nothing
    // (RefuseCheckpoint), though QueueFiles may hash for a while.
    std::lock_guard<std::mutex> lock(mu_);
    prepare_ = prepare;
    if (exit != nullptr) exit_ = *exit;
  }
  // Succeeded or failed on its own: what it wrote is complete. A cancelled
  // or preempted process was killed mid-write; a lost worker sends nothing.
  if (exit != nullptr && !cancelled_ && !interrupted_) QueueFiles();
  {
    // Under the lock with result_queued_: a checkpoint refused meanwhile
    // either is in this result or replaces it (RefuseCheckpoint).
    std::lock_guard<std::mutex> lock(mu_);
    fornax::v1::WorkerEvent event;
    *event.mutable_result() = ResultLocked();
    outbox_.AddEvent(std::move(event));
    result_queued_ = true;
  }
  outbox_.Close();
  finished_ = true;
  env_->on_event();
}

fornax::v1::AttemptResult JobAttempt::ResultLocked() const {
  fornax::v1::AttemptResult result;
  if (cancelled_) {
    result.set_cancelled(true);
    return result;
  }
  if (interrupted_) {
    result.set_preempted(true);
    return result;
  }
  if (exit_ && exit_->exit_code == 0 && saw_final_ && refusal_.empty()) {
    result.set_succeeded(true);
    return result;
  }
  fornax::v1::Failure* f = result.mutable_failure();
  if (!exit_) {
    f->set_message(absl::StrCat("cannot start the job: ", prepare_.message()));
  } else {
    f->set_exit_code(exit_->exit_code);
    f->set_signal(exit_->signal);
    std::string message = !refusal_.empty() ? refusal_ : error_;
    if (message.empty()) {
      message = exit_->signal != 0
                    ? absl::StrCat("job process killed by ", SignalName(exit_->signal))
                    : absl::StrCat("job process exited with code ", exit_->exit_code);
    }
    f->set_message(message);
    if (!refusal_.empty() && refused_every_time_) {
      f->set_not_retried_because("the coordinator refuses this checkpoint every time");
    }
    f->set_stopped_because(stopped_because_);
  }
  for (const std::string& line : last_lines_) f->add_last_log_lines(line);
  f->set_global_step(global_step_);
  f->set_epoch(epoch_);
  return result;
}

void JobAttempt::RefuseCheckpoint(const CheckpointUpload& upload, const absl::Status& status,
                                  bool every_time) {
  const fornax::v1::UploadCheckpointHeader& h = upload.header;
  std::string cause =
      absl::StrCat(h.final() ? "final checkpoint" : "checkpoint", " (epoch ", h.epoch(), ", ",
                   h.size_bytes(), " bytes) refused by the coordinator: ", status.ToString());
  std::lock_guard<std::mutex> lock(mu_);
  outbox_.AckCheckpoint();
  // Only a process still running is stopped, and then the cause says so. A
  // final checkpoint comes as the process ends by itself: a signal then
  // would only muddle its exit status.
  if (process_ && !exit_ && !stopped() && !h.final()) {
    absl::StrAppend(&cause, "; the worker stopped the job");
    stopped_because_ = "the coordinator refused its checkpoint";
    process_->Terminate();
  }
  refusal_ = std::move(cause);
  refused_every_time_ = every_time;
  if (result_queued_) outbox_.ReplaceResult(ResultLocked());
}

bool JobAttempt::checkpoint_refused() {
  std::lock_guard<std::mutex> lock(mu_);
  return !refusal_.empty();
}

void JobAttempt::Cancel() {
  cancelled_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (process_) process_->Terminate();
}

void JobAttempt::Interrupt() {
  interrupted_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (process_) process_->Kill();
}

void JobAttempt::Abandon() {
  abandoned_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (process_) process_->Kill();
}

}  // namespace fornax::worker
