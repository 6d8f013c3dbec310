// Coordinator, worker side: registration, leases, event reports and
// checkpoints. Lease rules are in docs/coordinator.md ("Failure handling").
#include <iostream>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"
#include "server/clock.h"
#include "server/coordinator.h"

namespace fornax::server {
namespace {

std::string AckKey(const std::string& job_id, int32_t attempt) {
  return absl::StrCat(job_id, "#", attempt);
}

// The worker's message when it sent one (it names the cause better than the
// exit status it came with), then where the job was, its epoch 1-based as
// `fornax get` prints it; no position when no step was reported.
std::string DescribeFailure(const v1::Failure& f) {
  std::string text = !f.message().empty() ? f.message()
                     : f.signal() != 0    ? absl::StrCat("killed by signal ", f.signal())
                                          : absl::StrCat("exit code ", f.exit_code());
  if (f.global_step() > 0) {
    absl::StrAppend(&text, " (during epoch ", f.epoch() + 1, ", at step ", f.global_step(), ")");
  }
  return text;
}

}  // namespace

void LeaseSession::Push(v1::LeaseResponse message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  outbox_.push_back(std::move(message));
  ready_.notify_one();
}

std::optional<v1::LeaseResponse> LeaseSession::Pop(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  ready_.wait_for(lock, timeout, [&] { return closed_ || !outbox_.empty(); });
  if (closed_ || outbox_.empty()) return std::nullopt;
  v1::LeaseResponse message = std::move(outbox_.front());
  outbox_.pop_front();
  return message;
}

void LeaseSession::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  ready_.notify_all();
  // Under the lock, so a handler clearing it (OnClose(nullptr)) before it
  // returns never races with this call.
  if (on_close_) on_close_();
}

bool LeaseSession::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void LeaseSession::OnClose(std::function<void()> on_close) {
  std::lock_guard<std::mutex> lock(mu_);
  on_close_ = std::move(on_close);
  if (closed_ && on_close_) on_close_();
}

absl::StatusOr<v1::RegisterResponse> Coordinator::Register(const v1::RegisterRequest& request) {
  if (request.worker_id().empty()) return absl::InvalidArgumentError("worker_id: required");
  const v1::Resources& c = request.capacity();
  if (c.gpus() < 0 || c.cpus() < 0 || c.memory_bytes() < 0 || c.slots() < 0) {
    return absl::InvalidArgumentError("capacity: gpus, cpus, memory_bytes and slots must be >= 0");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return absl::UnavailableError("coordinator shutting down");
  const std::string& worker_id = request.worker_id();
  const int64_t now = NowMs();
  WorkerState& w = workers_[worker_id];
  if (w.session) w.session->Close();  // a reconnect replaces the old stream
  const std::string session_id = absl::StrCat("s-", now, "-", next_session_++);
  w.session = std::make_shared<LeaseSession>(session_id, worker_id);
  session_worker_[session_id] = worker_id;
  w.up = true;
  w.draining = false;
  w.missing.clear();
  w.last_heartbeat_ms = now;
  w.info.set_worker_id(worker_id);
  w.info.set_hostname(request.hostname());
  *w.info.mutable_capacity() = c;
  *w.info.mutable_devices() = request.devices();
  w.info.set_up(true);
  FORNAX_RETURN_IF_ERROR(store_->PutWorker(w.info));

  v1::RegisterResponse response;
  response.set_session_id(session_id);
  response.set_lease_timeout_ms(options_.lease_timeout_ms);
  response.set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
  response.set_max_checkpoint_bytes(options_.max_checkpoint_bytes);
  // Re-attach what it still runs of ours; abandon what is no longer its.
  std::set<std::pair<std::string, int32_t>> listed;
  for (const v1::RunningJob& running : request.running()) {
    listed.insert({running.job_id(), running.attempt()});
    StoredJob* job = FindLocked(running.job_id());
    if (job == nullptr || job->job.state() != v1::JOB_STATE_RUNNING ||
        job->job.worker_id() != worker_id || job->job.attempt() != running.attempt()) {
      *response.add_abandon() = running;
    }
  }
  std::vector<std::string> lost;
  for (const auto& [order, job] : jobs_) {
    if (job.job.state() == v1::JOB_STATE_RUNNING && job.job.worker_id() == worker_id &&
        listed.count({job.job.job_id(), job.job.attempt()}) == 0) {
      lost.push_back(job.job.job_id());
    }
  }
  for (const std::string& job_id : lost) {
    StoredJob job = *FindLocked(job_id);
    NewEvent event;
    FORNAX_RETURN_IF_ERROR(
        RequeueLocked(&job, absl::StrCat("worker ", worker_id, " re-registered without it"),
                      Requeue::kLost, &event));
    FORNAX_RETURN_IF_ERROR(CommitLocked(std::move(job), {std::move(event)}).status());
  }
  ReconcileHostedLocked(request);
  RefreshGaugesLocked();
  ScheduleLocked();
  return response;
}

absl::StatusOr<std::shared_ptr<LeaseSession>> Coordinator::AttachLease(
    const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return absl::UnavailableError("coordinator shutting down");
  auto it = session_worker_.find(session_id);
  if (it != session_worker_.end()) {
    WorkerState& w = workers_[it->second];
    if (w.session && w.session->id() == session_id && !w.session->closed()) {
      w.last_heartbeat_ms = NowMs();
      return w.session;
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("session '", session_id, "' is not current; register again"));
}

absl::Status Coordinator::Heartbeat(const LeaseSession& session, const v1::LeaseRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  WorkerState& w = workers_[session.worker_id()];
  if (!w.session || w.session->id() != session.id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("session '", session.id(), "' is not current; register again"));
  }
  const int64_t now = NowMs();
  w.last_heartbeat_ms = now;
  *w.info.mutable_free() = request.free();
  ApplyHostedLocked(session.worker_id(), request.hosted());
  ReconcileRunningLocked(session.worker_id(), request.running(), now);
  return absl::OkStatus();
}

absl::Status Coordinator::Leave(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return absl::UnavailableError("coordinator shutting down");
  FORNAX_ASSIGN_OR_RETURN(std::string worker_id, WorkerOfSessionLocked(session_id));
  WorkerState& w = workers_[worker_id];
  if (!w.session || w.session->id() != session_id) {
    return absl::FailedPreconditionError(absl::StrCat("session '", session_id, "' of worker ",
                                                      worker_id,
                                                      " is not current (expired or replaced)"));
  }
  MarkDownLocked(w);
  w.missing.clear();
  ReplaceDeploymentsLocked({worker_id}, "left", /*still_serving=*/true);
  // Jobs it reported a result for are requeued already; what is left was
  // assigned while it stopped, or its last report did not get through.
  std::vector<std::pair<std::string, std::string>> assigned;
  for (const std::string& job_id : RunningOnLocked({worker_id})) {
    assigned.emplace_back(job_id, absl::StrCat("worker ", worker_id, " left (preempted)"));
  }
  RequeueEachLocked(assigned, Requeue::kPreempted);
  ScheduleLocked();
  return absl::OkStatus();
}

absl::StatusOr<std::string> Coordinator::WorkerOfSessionLocked(const std::string& session_id) {
  auto it = session_worker_.find(session_id);
  if (it == session_worker_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("unknown session '", session_id, "'; register first"));
  }
  return it->second;
}

absl::Status Coordinator::CheckSession(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  return WorkerOfSessionLocked(session_id).status();
}

namespace {

// Whether `worker` holds `attempt` of `job`: FailedPrecondition saying why not.
absl::Status Holds(const StoredJob* job, const std::string& job_id, const std::string& worker,
                   int32_t attempt) {
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job '", job_id, "' not found"));
  const v1::Job& j = job->job;
  if (j.state() == v1::JOB_STATE_QUEUED || j.worker_id() != worker || j.attempt() != attempt) {
    return absl::FailedPreconditionError(absl::StrCat(
        "worker ", worker, " does not hold ", job_id, " attempt ", attempt, " (the job is ",
        v1::JobState_Name(j.state()), ", attempt ", j.attempt(),
        j.worker_id().empty() ? "" : absl::StrCat(", on worker ", j.worker_id()), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Coordinator::CheckHolds(const std::string& session_id, const std::string& job_id,
                                     int32_t attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  FORNAX_ASSIGN_OR_RETURN(std::string worker, WorkerOfSessionLocked(session_id));
  return Holds(FindLocked(job_id), job_id, worker, attempt);
}

void Coordinator::ReconcileRunningLocked(
    const std::string& worker_id, const google::protobuf::RepeatedPtrField<v1::RunningJob>& running,
    int64_t now_ms) {
  WorkerState& w = workers_[worker_id];
  std::set<std::string> listed;
  for (const v1::RunningJob& r : running) {
    listed.insert(AckKey(r.job_id(), r.attempt()));
    // Not its (requeued, cancelled or never assigned here): stop it. A job
    // that ended here is still listed until its last events are stored.
    absl::Status holds = Holds(FindLocked(r.job_id()), r.job_id(), worker_id, r.attempt());
    if (holds.ok() || !w.session) continue;
    v1::LeaseResponse message;
    message.mutable_cancel()->set_job_id(r.job_id());
    message.mutable_cancel()->set_attempt(r.attempt());
    message.mutable_cancel()->set_reason(std::string(holds.message()));
    w.session->Push(std::move(message));
  }
  // Its but not listed: lost once two heartbeats in a row, at least half a
  // heartbeat interval apart, lacked it. One missing heartbeat alone may
  // have been written before the assignment reached the worker, and the
  // worker sends some heartbeats in quick succession (hosted model changes).
  std::map<std::string, WorkerState::Missing> missing;
  std::vector<std::pair<std::string, std::string>> lost;  // job id, reason
  for (const auto& [order, job] : jobs_) {
    const v1::Job& j = job.job;
    if (j.state() != v1::JOB_STATE_RUNNING || j.worker_id() != worker_id) continue;
    const std::string key = AckKey(j.job_id(), j.attempt());
    if (listed.count(key) > 0) continue;
    auto it = w.missing.find(key);
    WorkerState::Missing m = it == w.missing.end() ? WorkerState::Missing{now_ms, 0} : it->second;
    m.heartbeats += 1;
    if (m.heartbeats >= 2 && now_ms - m.since_ms >= options_.heartbeat_interval_ms / 2) {
      lost.emplace_back(
          j.job_id(), absl::StrCat("worker ", worker_id, " no longer runs it (missing from ",
                                   m.heartbeats, " heartbeats over ", now_ms - m.since_ms, " ms)"));
    } else {
      missing[key] = m;
    }
  }
  w.missing.swap(missing);
  RequeueEachLocked(lost, Requeue::kLost);
  if (!lost.empty()) ScheduleLocked();
}

absl::Status Coordinator::ApplyResultLocked(StoredJob* job, const v1::AttemptResult& result,
                                            NewEvent* event) {
  v1::Job& j = job->job;
  if (result.succeeded()) {
    j.set_state(v1::JOB_STATE_SUCCEEDED);
    j.set_reason("succeeded");
    *j.mutable_end_time() = NowTimestamp();
    *event = StateEvent(j, "succeeded");
    return absl::OkStatus();
  }
  if (result.preempted()) {
    workers_[j.worker_id()].draining = true;
    return RequeueLocked(job, absl::StrCat("worker ", j.worker_id(), " shut down (preempted)"),
                         Requeue::kPreempted, event);
  }
  if (result.cancelled()) {
    return RequeueLocked(job, absl::StrCat("worker ", j.worker_id(), " stopped the job"),
                         Requeue::kLost, event);
  }
  *j.mutable_failure() = result.failure();
  const std::string& not_retried = result.failure().not_retried_because();
  if (!not_retried.empty()) {
    job->failures += 1;
    FailLocked(job, absl::StrCat(DescribeFailure(result.failure()), "; not retried: ", not_retried),
               event);
    return absl::OkStatus();
  }
  return RequeueLocked(job, DescribeFailure(result.failure()), Requeue::kFailure, event);
}

absl::StatusOr<v1::ReportEventsResponse> Coordinator::ReportEvents(
    const v1::ReportEventsRequest& request) {
  for (int i = 0; i < request.events_size(); ++i) {
    if (request.events(i).worker_sequence() < 1) {
      return absl::InvalidArgumentError(absl::StrCat("events[", i,
                                                     "].worker_sequence: must be >= 1, got ",
                                                     request.events(i).worker_sequence()));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  FORNAX_ASSIGN_OR_RETURN(std::string worker, WorkerOfSessionLocked(request.session_id()));
  StoredJob* found = FindLocked(request.job_id());
  FORNAX_RETURN_IF_ERROR(Holds(found, request.job_id(), worker, request.attempt()));
  const std::string key = AckKey(request.job_id(), request.attempt());
  if (acked_.count(key) == 0) {
    FORNAX_ASSIGN_OR_RETURN(acked_[key],
                            store_->MaxWorkerSequence(request.job_id(), request.attempt()));
  }
  int64_t acked = acked_[key];
  StoredJob job = *found;
  const v1::JobState state_before = job.job.state();
  std::vector<NewEvent> events;
  std::optional<v1::Metrics> epoch_metrics;
  for (const v1::WorkerEvent& in : request.events()) {
    if (in.worker_sequence() <= acked) continue;  // a resend: stored already
    acked = in.worker_sequence();
    NewEvent e;
    e.event.set_job_id(request.job_id());
    *e.event.mutable_time() = NowTimestamp();
    switch (in.kind_case()) {
      case v1::WorkerEvent::kStep:
        job.job.set_global_step(in.step().global_step());
        *e.event.mutable_step() = in.step();
        break;
      case v1::WorkerEvent::kEpoch:
        job.job.set_epoch(in.epoch().epoch() + 1);
        *job.job.mutable_last_metrics() = in.epoch().metrics();
        epoch_metrics = in.epoch().metrics();
        *e.event.mutable_epoch() = in.epoch();
        break;
      case v1::WorkerEvent::kLog:
        *e.event.mutable_log() = in.log();
        break;
      case v1::WorkerEvent::kState:
        *e.event.mutable_state() = in.state();
        e.event.mutable_state()->set_worker_id(worker);
        e.event.mutable_state()->set_attempt(request.attempt());
        break;
      case v1::WorkerEvent::kResult:
        if (job.job.state() == v1::JOB_STATE_RUNNING) {
          FORNAX_RETURN_IF_ERROR(ApplyResultLocked(&job, in.result(), &e));
        } else {  // e.g. cancelled meanwhile: keep the worker's word as a log line
          e.event.mutable_log()->set_stream("worker");
          e.event.mutable_log()->set_text(absl::StrCat("attempt ", request.attempt(),
                                                       " ended after the job was ",
                                                       v1::JobState_Name(job.job.state())));
        }
        break;
      case v1::WorkerEvent::KIND_NOT_SET:
        return absl::InvalidArgumentError(
            absl::StrCat("events: worker_sequence ", in.worker_sequence(), " has no kind"));
    }
    e.attempt = request.attempt();
    e.worker_sequence = in.worker_sequence();
    events.push_back(std::move(e));
  }
  const bool state_changed = job.job.state() != state_before;
  if (!events.empty())
    FORNAX_RETURN_IF_ERROR(CommitLocked(std::move(job), std::move(events)).status());
  if (FindLocked(request.job_id())->job.state() == v1::JOB_STATE_RUNNING) acked_[key] = acked;
  if (epoch_metrics && metrics_ != nullptr)
    metrics_->SetJobMetrics(request.job_id(), *epoch_metrics);
  if (state_changed) ScheduleLocked();
  v1::ReportEventsResponse response;
  response.set_acked_sequence(acked);
  return response;
}

absl::StatusOr<v1::CheckpointRecord> Coordinator::RecordCheckpoint(
    const v1::UploadCheckpointHeader& header) {
  std::lock_guard<std::mutex> lock(mu_);
  FORNAX_ASSIGN_OR_RETURN(std::string worker, WorkerOfSessionLocked(header.session_id()));
  StoredJob* found = FindLocked(header.job_id());
  FORNAX_RETURN_IF_ERROR(Holds(found, header.job_id(), worker, header.attempt()));
  v1::CheckpointRecord record;
  record.set_epoch(header.epoch());
  record.set_global_step(header.global_step());
  record.set_sha256(header.sha256());
  record.set_size_bytes(header.size_bytes());
  *record.mutable_metrics() = header.metrics();
  record.set_final(header.final());
  FORNAX_ASSIGN_OR_RETURN(std::vector<v1::JobEvent> stored, CommitLocked(*found, {}, record));
  if (metrics_ != nullptr) metrics_->CountCheckpointBytes(header.size_bytes());
  return stored.front().checkpoint();
}

absl::Status Coordinator::CheckJobFilePath(const std::string& path) {
  // The path is echoed escaped: it is a worker's, printed by `fornax files`
  // and in messages.
  absl::Status inside = path.size() <= 1024 ? CheckRelativePathInside(path)
                                            : absl::InvalidArgumentError("is over 1024 bytes");
  if (inside.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("path: expected a relative path under the job's files directory, got '",
                   absl::CHexEscape(path), "' (", inside.message(), ")"));
}

absl::Status Coordinator::CheckJobFilesFit(const v1::UploadJobFileHeader& header) {
  FORNAX_ASSIGN_OR_RETURN(JobFilesUsage others,
                          store_->SumJobFiles(header.job_id(), header.path()));
  if (others.count + 1 > options_.max_job_files) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "path: job ", header.job_id(), " would have ", others.count + 1,
        " files, more than the coordinator's --max-job-files ", options_.max_job_files));
  }
  const int64_t total = others.bytes + header.size_bytes();
  if (total <= options_.max_job_files_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "size_bytes: job ", header.job_id(), "'s files would hold ", total,
      " bytes, more than the coordinator's --max-job-files-bytes ", options_.max_job_files_bytes));
}

absl::StatusOr<v1::JobFile> Coordinator::RecordJobFile(const v1::UploadJobFileHeader& header) {
  FORNAX_RETURN_IF_ERROR(CheckJobFilePath(header.path()));
  std::lock_guard<std::mutex> lock(mu_);
  FORNAX_ASSIGN_OR_RETURN(std::string worker, WorkerOfSessionLocked(header.session_id()));
  FORNAX_RETURN_IF_ERROR(
      Holds(FindLocked(header.job_id()), header.job_id(), worker, header.attempt()));
  // Checked at the start of the upload too; here, under mu_ like every
  // record, it also holds for uploads that passed that check side by side.
  FORNAX_RETURN_IF_ERROR(CheckJobFilesFit(header));
  v1::JobFile file;
  file.set_path(header.path());
  file.set_attempt(header.attempt());
  file.set_sha256(header.sha256());
  file.set_size_bytes(header.size_bytes());
  *file.mutable_create_time() = NowTimestamp();
  FORNAX_RETURN_IF_ERROR(store_->PutJobFile(header.job_id(), file));
  return file;
}

void Coordinator::ExpireLeasesLocked(int64_t now_ms) {
  std::set<std::string> expired;
  for (auto& [id, w] : workers_) {
    if (now_ms - w.last_heartbeat_ms <= options_.lease_timeout_ms) continue;
    expired.insert(id);
    if (w.up) MarkDownLocked(w);
  }
  if (expired.empty()) return;
  ReplaceDeploymentsLocked(
      expired, absl::StrCat("lost (no heartbeat for over ", options_.lease_timeout_ms, " ms)"),
      /*still_serving=*/false);
  std::vector<std::pair<std::string, std::string>> lost;
  for (const std::string& job_id : RunningOnLocked(expired)) {
    const std::string& worker_id = FindLocked(job_id)->job.worker_id();
    lost.emplace_back(job_id, absl::StrCat("worker ", worker_id, " lost (no heartbeat for ",
                                           now_ms - workers_[worker_id].last_heartbeat_ms, " ms)"));
  }
  RequeueEachLocked(lost, Requeue::kLost);
}

void Coordinator::MarkDownLocked(WorkerState& w) {
  w.up = false;
  w.info.set_up(false);
  if (w.session) w.session->Close();
  w.session.reset();
  RefreshGaugesLocked();
}

std::vector<std::string> Coordinator::RunningOnLocked(const std::set<std::string>& workers) {
  std::vector<std::string> running;
  for (const auto& [order, job] : jobs_) {
    if (job.job.state() == v1::JOB_STATE_RUNNING && workers.count(job.job.worker_id()) > 0) {
      running.push_back(job.job.job_id());
    }
  }
  return running;
}

void Coordinator::RequeueEachLocked(const std::vector<std::pair<std::string, std::string>>& jobs,
                                    Requeue why) {
  for (const auto& [job_id, reason] : jobs) {
    StoredJob job = *FindLocked(job_id);
    NewEvent event;
    absl::Status status = RequeueLocked(&job, reason, why, &event);
    if (status.ok()) status = CommitLocked(std::move(job), {std::move(event)}).status();
    if (!status.ok()) {
      std::cerr << "fornax-coordinator: requeue of " << job_id << " failed: " << status << "\n";
    }
  }
}

v1::ListWorkersResponse Coordinator::ListWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  v1::ListWorkersResponse response;
  for (const auto& [id, w] : workers_) {
    v1::WorkerInfo* info = response.add_workers();
    *info = w.info;
    info->set_up(w.up);
    info->set_last_heartbeat_unix_ms(w.last_heartbeat_ms);
    info->set_inference_address(w.inference_address);
    for (const auto& [name, deployment] : deployments_) {
      if (deployment.worker_id() == id) info->add_deployments(name);
    }
    for (const auto& [order, job] : jobs_) {
      if (job.job.state() == v1::JOB_STATE_RUNNING && job.job.worker_id() == id) {
        v1::RunningJob* running = info->add_running();
        running->set_job_id(job.job.job_id());
        running->set_attempt(job.job.attempt());
      }
    }
  }
  return response;
}

}  // namespace fornax::server
