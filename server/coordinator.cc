// Coordinator: lifecycle, recovery, jobs and scheduling. The worker side
// (registration, leases, reports, checkpoints) is coordinator_workers.cc.
#include "server/coordinator.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <unordered_set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"
#include "server/clock.h"
#include "server/job_validation.h"

namespace fornax::server {

Coordinator::Coordinator(CoordinatorOptions options, Metrics* metrics, std::unique_ptr<Store> store,
                         std::unique_ptr<ArtifactStore> artifacts)
    : options_(std::move(options)),
      metrics_(metrics),
      store_(std::move(store)),
      artifacts_(std::move(artifacts)),
      events_(store_.get()) {}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Open(const CoordinatorOptions& options,
                                                               Metrics* metrics) {
  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--data-dir: cannot create ", options.data_dir, ": ", error.message()));
  }
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Store> store,
                          Store::Open(options.data_dir + "/state.db"));
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<ArtifactStore> artifacts,
                          ArtifactStore::Open(options.data_dir + "/artifacts"));
  std::unique_ptr<Coordinator> coordinator(
      new Coordinator(options, metrics, std::move(store), std::move(artifacts)));
  FORNAX_RETURN_IF_ERROR(coordinator->Recover());
  if (options.artifact_sweep_interval_ms > 0) {
    // ArtifactStore::Open has cleared the temp files; nothing serves yet.
    coordinator->SweepAndLog();
    coordinator->sweeper_ = std::thread([c = coordinator.get()] { c->SweepLoop(); });
  }
  coordinator->reaper_ = std::thread([c = coordinator.get()] { c->ReaperLoop(); });
  return coordinator;
}

absl::Status Coordinator::Recover() {
  FORNAX_ASSIGN_OR_RETURN(std::vector<StoredJob> jobs, store_->LoadJobs());
  FORNAX_ASSIGN_OR_RETURN(std::vector<v1::WorkerInfo> workers, store_->LoadWorkers());
  FORNAX_ASSIGN_OR_RETURN(std::vector<v1::Deployment> deployments, store_->LoadDeployments());
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowMs();
  for (v1::WorkerInfo& info : workers) {
    WorkerState& w = workers_[info.worker_id()];
    info.set_up(false);
    info.clear_running();
    w.info = std::move(info);
  }
  for (StoredJob& job : jobs) {
    const std::string id = job.job.job_id();
    next_order_ = std::max(next_order_, job.order + 1);
    events_.Published(id, {}, job.job.last_sequence(), IsTerminal(job.job.state()));
    if (job.job.state() == v1::JOB_STATE_RUNNING) {
      // Its worker gets a full lease timeout, from now, to come back.
      WorkerState& w = workers_[job.job.worker_id()];
      w.info.set_worker_id(job.job.worker_id());
      w.last_heartbeat_ms = now;
    }
    if (job.job.state() == v1::JOB_STATE_QUEUED &&
        absl::StartsWith(job.job.reason(), "requeued:")) {
      requeue_notes_[id] = job.job.reason();
    }
    job_orders_[id] = job.order;
    jobs_[job.order] = std::move(job);
  }
  for (v1::Deployment& d : deployments) {
    if (!d.worker_id().empty()) {  // the same lease timeout to come back as for jobs
      WorkerState& w = workers_[d.worker_id()];
      w.info.set_worker_id(d.worker_id());
      w.last_heartbeat_ms = now;
    }
    const std::string name = d.name();
    deployments_[name] = std::move(d);
  }
  RefreshGaugesLocked();
  RefreshDeploymentGaugeLocked();
  return absl::OkStatus();
}

Coordinator::~Coordinator() {
  Shutdown();
  if (reaper_.joinable()) reaper_.join();
  if (sweeper_.joinable()) sweeper_.join();
}

void Coordinator::Shutdown() {
  std::vector<std::shared_ptr<LeaseSession>> sessions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
    for (auto& [id, w] : workers_) {
      if (w.session) sessions.push_back(w.session);
    }
  }
  reaper_wake_.notify_all();
  sweep_wake_.notify_all();
  events_.Shutdown();
  for (auto& session : sessions) session->Close();
}

void Coordinator::ReaperLoop() {
  // Checks leases often enough to notice a lost worker within a tenth of
  // the timeout, and retries whose backoff ended.
  const auto period =
      std::chrono::milliseconds(std::clamp<int64_t>(options_.lease_timeout_ms / 10, 20, 500));
  std::unique_lock<std::mutex> lock(mu_);
  while (!shutdown_) {
    reaper_wake_.wait_for(lock, period);
    if (shutdown_) break;
    ExpireLeasesLocked(NowMs());
    ScheduleLocked();
  }
}

void Coordinator::SweepLoop() {
  const auto period = std::chrono::milliseconds(options_.artifact_sweep_interval_ms);
  std::unique_lock<std::mutex> lock(mu_);
  while (!sweep_wake_.wait_for(lock, period, [this] { return shutdown_; })) {
    lock.unlock();  // artifact locks come before mu_
    SweepAndLog();
    lock.lock();
  }
}

void Coordinator::SweepAndLog() {
  absl::StatusOr<Swept> swept = SweepArtifacts();
  if (!swept.ok()) {
    std::cerr << "fornax-coordinator: artifact sweep failed: " << swept.status() << "\n";
    return;
  }
  if (swept->files == 0) return;
  std::cerr << "fornax-coordinator: artifact sweep removed " << swept->files << " files ("
            << swept->bytes << " bytes) that no record names\n";
  if (metrics_ != nullptr) metrics_->CountSwept(swept->files, swept->bytes);
}

absl::StatusOr<Coordinator::Swept> Coordinator::SweepArtifacts() {
  FORNAX_ASSIGN_OR_RETURN(std::vector<ArtifactStore::StoredFile> stored, artifacts_->List());
  // One read for the common case; a file it does not name is checked again
  // under its lock, since a record may have come since.
  FORNAX_ASSIGN_OR_RETURN(std::unordered_set<std::string> referenced,
                          store_->ReferencedArtifacts());
  Swept swept;
  for (const ArtifactStore::StoredFile& file : stored) {
    if (referenced.count(file.sha256) > 0) continue;
    // An upload holds this lock from renaming its bytes into place until it
    // has recorded them (Writer::Commit returns it held), and DeleteDataset
    // holds it from dropping a record to removing the bytes. So while we
    // hold it no upload is between rename and record: bytes that no record
    // names now are bytes no one will record, and an upload of them still
    // to come renames its own copy into place after this removal.
    std::unique_lock<std::mutex> lock = artifacts_->Lock(file.sha256);
    FORNAX_ASSIGN_OR_RETURN(bool in_use, store_->IsArtifactInUse(file.sha256));
    if (in_use || !artifacts_->Contains(file.sha256)) continue;
    FORNAX_RETURN_IF_ERROR(artifacts_->Remove(file.sha256));
    swept.files += 1;
    swept.bytes += file.size_bytes;
  }
  return swept;
}

StoredJob* Coordinator::FindLocked(const std::string& job_id) {
  auto it = job_orders_.find(job_id);
  return it == job_orders_.end() ? nullptr : &jobs_[it->second];
}

absl::StatusOr<std::vector<v1::JobEvent>> Coordinator::CommitLocked(
    StoredJob job, std::vector<NewEvent> events, std::optional<v1::CheckpointRecord> checkpoint) {
  const int32_t attempt = job.job.attempt();
  JobWrite write{&job, std::move(events), std::move(checkpoint), attempt};
  FORNAX_ASSIGN_OR_RETURN(std::vector<v1::JobEvent> stored, store_->Write(write));
  const std::string id = job.job.job_id();
  const bool terminal = IsTerminal(job.job.state());
  const int64_t last = job.job.last_sequence();
  job_orders_[id] = job.order;
  StoredJob& slot = jobs_[job.order];
  const bool state_changed = slot.job.state() != job.job.state();
  if (job.job.state() != v1::JOB_STATE_RUNNING) {
    // No attempt of it runs now: forget the acked sequences (the store
    // still has them for the rare late report).
    const std::string prefix = id + "#";
    for (auto it = acked_.lower_bound(prefix);
         it != acked_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = acked_.erase(it);
    }
  }
  slot = std::move(job);
  events_.Published(id, stored, last, terminal);
  if (metrics_ != nullptr) metrics_->CountEvents(static_cast<int64_t>(stored.size()));
  if (state_changed) RefreshGaugesLocked();
  return stored;
}

void Coordinator::RefreshGaugesLocked() {
  if (metrics_ == nullptr) return;
  std::array<int64_t, 6> counts{};
  for (const auto& [order, job] : jobs_) ++counts[job.job.state()];
  metrics_->SetJobCounts(counts);
  int64_t up = 0;
  for (const auto& [id, w] : workers_) up += w.up ? 1 : 0;
  metrics_->SetWorkersUp(up);
}

NewEvent StateEvent(const v1::Job& job, const std::string& reason) {
  NewEvent e;
  e.attempt = job.attempt();
  *e.event.mutable_time() = NowTimestamp();
  v1::StateChange* state = e.event.mutable_state();
  state->set_state(job.state());
  state->set_reason(reason);
  state->set_worker_id(job.worker_id());
  state->set_attempt(job.attempt());
  return e;
}

absl::StatusOr<v1::Job> Coordinator::SubmitJob(const v1::JobSpec& spec) {
  FORNAX_RETURN_IF_ERROR(ValidateJobSpec(spec));
  // The inputs' locks, held from checking them to storing the job:
  // DeleteDataset checks that no job uses a dataset (CheckDatasetUnused)
  // under its lock, so it either sees this job and refuses, or has dropped
  // the dataset before the check below, which then refuses the job. Taken
  // before mu_, like every artifact lock (artifact locks -> mu_ -> store).
  std::vector<std::string> digests;
  for (const v1::InputFile& input : spec.inputs()) digests.push_back(input.sha256());
  std::vector<std::unique_lock<std::mutex>> inputs_held = artifacts_->LockAll(digests);
  for (int i = 0; i < spec.inputs_size(); ++i) {
    const v1::InputFile& input = spec.inputs(i);
    FORNAX_ASSIGN_OR_RETURN(std::optional<v1::Dataset> dataset, store_->GetDataset(input.sha256()));
    if (!dataset || !artifacts_->Contains(input.sha256())) {
      return absl::FailedPreconditionError(absl::StrCat("spec.inputs[", i, "]: dataset ",
                                                        input.sha256(), " (", input.path(),
                                                        ") is not stored; upload it first"));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return absl::UnavailableError("coordinator shutting down");
  StoredJob job;
  job.order = next_order_;
  job.queued_ms = NowMs();
  job.job.set_job_id(absl::StrCat("job-", job.order));
  *job.job.mutable_spec() = spec;
  job.job.set_state(v1::JOB_STATE_QUEUED);
  job.job.set_reason("waiting: not scheduled yet");
  *job.job.mutable_submit_time() = NowTimestamp();
  std::vector<NewEvent> events = {StateEvent(job.job, "submitted")};
  FORNAX_RETURN_IF_ERROR(CommitLocked(std::move(job), std::move(events)).status());
  const int64_t order = next_order_++;
  ScheduleLocked();
  return jobs_[order].job;
}

absl::StatusOr<v1::Job> Coordinator::GetJob(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  StoredJob* job = FindLocked(job_id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("job '", job_id, "' not found"));
  return job->job;
}

absl::StatusOr<v1::ListJobsResponse> Coordinator::ListJobs(const v1::ListJobsRequest& request) {
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: must be >= 0, got ", request.page_size()));
  }
  const int page_size = request.page_size() == 0 ? 50 : std::min(request.page_size(), 1000);
  int64_t before = INT64_MAX;
  if (!request.page_token().empty() && !absl::SimpleAtoi(request.page_token(), &before)) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token: not a token from ListJobs: '", request.page_token(), "'"));
  }
  std::set<int> states(request.states().begin(), request.states().end());
  v1::ListJobsResponse response;
  std::lock_guard<std::mutex> lock(mu_);
  int64_t last_order = 0;
  for (auto it = jobs_.lower_bound(before); it != jobs_.begin();) {
    --it;
    const v1::Job& job = it->second.job;
    if (!states.empty() && states.count(job.state()) == 0) continue;
    if (!absl::StartsWith(job.spec().name(), request.name_prefix())) continue;
    if (!request.owner().empty() && job.spec().owner() != request.owner()) continue;
    if (response.jobs_size() == page_size) {
      response.set_next_page_token(absl::StrCat(last_order));
      break;
    }
    *response.add_jobs() = job;
    last_order = it->first;
  }
  return response;
}

absl::StatusOr<v1::Job> Coordinator::CancelJob(const std::string& job_id,
                                               const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  StoredJob* found = FindLocked(job_id);
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("job '", job_id, "' not found"));
  if (IsTerminal(found->job.state())) return found->job;
  StoredJob job = *found;
  const bool was_running = job.job.state() == v1::JOB_STATE_RUNNING;
  const std::string why =
      reason.empty() ? "cancelled by user" : absl::StrCat("cancelled: ", reason);
  job.job.set_state(v1::JOB_STATE_CANCELLED);
  job.job.set_reason(why);
  *job.job.mutable_end_time() = NowTimestamp();
  std::vector<NewEvent> events = {StateEvent(job.job, why)};
  const std::string worker = job.job.worker_id();
  const int32_t attempt = job.job.attempt();
  FORNAX_RETURN_IF_ERROR(CommitLocked(std::move(job), std::move(events)).status());
  if (was_running) {
    auto w = workers_.find(worker);
    if (w != workers_.end() && w->second.session) {
      v1::LeaseResponse message;
      message.mutable_cancel()->set_job_id(job_id);
      message.mutable_cancel()->set_attempt(attempt);
      message.mutable_cancel()->set_reason(why);
      w->second.session->Push(std::move(message));
    }
    ScheduleLocked();
  }
  return FindLocked(job_id)->job;
}

absl::StatusOr<std::vector<v1::CheckpointRecord>> Coordinator::ListCheckpoints(
    const std::string& job_id) {
  FORNAX_RETURN_IF_ERROR(GetJob(job_id).status());
  return store_->ListCheckpoints(job_id);
}

absl::StatusOr<v1::CheckpointRecord> Coordinator::FindCheckpoint(const std::string& job_id,
                                                                 const std::string& checkpoint_id) {
  FORNAX_ASSIGN_OR_RETURN(v1::Job job, GetJob(job_id));
  FORNAX_ASSIGN_OR_RETURN(std::vector<v1::CheckpointRecord> records,
                          store_->ListCheckpoints(job_id));
  if (checkpoint_id.empty()) {
    for (auto it = records.rbegin(); it != records.rend(); ++it) {
      if (it->final()) return *it;
    }
    if (!records.empty()) return records.back();
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no checkpoints yet"));
  }
  for (const v1::CheckpointRecord& record : records) {
    if (record.checkpoint_id() == checkpoint_id) return record;
  }
  return absl::NotFoundError(
      absl::StrCat("checkpoint '", checkpoint_id, "' not found for job ", job_id));
}

absl::StatusOr<std::vector<v1::JobFile>> Coordinator::ListJobFiles(const std::string& job_id) {
  FORNAX_RETURN_IF_ERROR(GetJob(job_id).status());
  return store_->ListJobFiles(job_id);
}

absl::StatusOr<v1::JobFile> Coordinator::FindJobFile(const std::string& job_id,
                                                     const std::string& path) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<v1::JobFile> files, ListJobFiles(job_id));
  std::vector<std::string> paths;
  for (const v1::JobFile& file : files) {
    if (file.path() == path) return file;
    paths.push_back(file.path());
  }
  return absl::NotFoundError(
      absl::StrCat("job ", job_id, " has no file '", path, "'; ",
                   paths.empty() ? "it has none (files are uploaded when an attempt's process ends)"
                                 : absl::StrCat("its files: ", absl::StrJoin(paths, ", "))));
}

absl::Status Coordinator::CheckDatasetUnused(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [order, job] : jobs_) {
    if (IsTerminal(job.job.state())) continue;
    for (const v1::InputFile& input : job.job.spec().inputs()) {
      if (input.sha256() == sha256) {
        return absl::FailedPreconditionError(absl::StrCat(
            "dataset ", sha256, " is used by ", job.job.job_id(), ", which has not ended"));
      }
    }
  }
  return absl::OkStatus();
}

void Coordinator::ScheduleLocked() {
  if (shutdown_) return;
  const int64_t now = NowMs();
  std::vector<PendingJob> pending;
  for (const auto& [order, job] : jobs_) {
    if (job.job.state() != v1::JOB_STATE_QUEUED) continue;
    const v1::Resources& r = job.job.spec().resources();
    pending.push_back({job.job.job_id(),
                       job.job.spec().priority(),
                       order,
                       job.queued_ms,
                       job.not_before_ms,
                       {r.gpus(), r.memory_bytes(), r.cpus()}});
  }
  if (pending.empty()) return;
  std::map<std::string, WorkerSlots> slots;
  for (const auto& [id, w] : workers_) {
    if (!w.up || !w.session || w.draining) continue;
    const v1::Resources& c = w.info.capacity();
    ResourceNeeds capacity{c.gpus(), c.memory_bytes(), c.cpus()};
    slots[id] = {id, capacity, capacity, std::max(c.slots(), 1)};
  }
  for (const auto& [order, job] : jobs_) {
    if (job.job.state() != v1::JOB_STATE_RUNNING) continue;
    auto it = slots.find(job.job.worker_id());
    if (it == slots.end()) continue;
    const v1::Resources& r = job.job.spec().resources();
    it->second.free.gpus -= r.gpus();
    it->second.free.memory_bytes -= r.memory_bytes();
    it->second.free.cpus -= r.cpus();
    it->second.free_slots -= 1;
  }
  std::vector<WorkerSlots> workers;
  for (auto& [id, s] : slots) workers.push_back(s);
  Schedule schedule = PlanSchedule(std::move(pending), std::move(workers), now, options_.scheduler);
  for (const Waiting& waiting : schedule.waiting) {
    // Shown, not logged. A requeued job keeps saying why it was requeued.
    auto note = requeue_notes_.find(waiting.job_id);
    FindLocked(waiting.job_id)
        ->job.set_reason(note == requeue_notes_.end()
                             ? waiting.reason
                             : absl::StrCat(note->second, "; ", waiting.reason));
  }
  for (const Placement& placement : schedule.placements) {
    StoredJob job = *FindLocked(placement.job_id);
    const int64_t waited_ms = now - job.queued_ms;
    job.job.set_state(v1::JOB_STATE_RUNNING);
    job.job.set_worker_id(placement.worker_id);
    job.job.set_reason(absl::StrCat("running on ", placement.worker_id));
    if (!job.job.has_start_time()) {
      *job.job.mutable_start_time() = NowTimestamp();
    }
    std::vector<NewEvent> events = {
        StateEvent(job.job, absl::StrCat("assigned to worker ", placement.worker_id))};
    v1::LeaseResponse message;
    v1::Assignment* assign = message.mutable_assign();
    assign->set_job_id(placement.job_id);
    assign->set_attempt(job.job.attempt());
    *assign->mutable_spec() = job.job.spec();
    if (!job.latest_checkpoint.checkpoint_id().empty()) {
      *assign->mutable_resume_from() = job.latest_checkpoint;
    }
    if (!CommitLocked(std::move(job), std::move(events)).ok()) continue;  // stays queued
    requeue_notes_.erase(placement.job_id);
    workers_[placement.worker_id].session->Push(std::move(message));
    if (metrics_ != nullptr) metrics_->ObserveSchedulingLatency(waited_ms / 1000.0);
  }
}

void Coordinator::FailLocked(StoredJob* job, const std::string& reason, NewEvent* event) {
  v1::Job& j = job->job;
  j.set_state(v1::JOB_STATE_FAILED);
  j.set_reason(absl::StrCat("failed: ", reason));
  *j.mutable_end_time() = NowTimestamp();
  *event = StateEvent(j, j.reason());
}

absl::Status Coordinator::RequeueLocked(StoredJob* job, const std::string& reason, Requeue why,
                                        NewEvent* event) {
  v1::Job& j = job->job;
  const bool failure = why == Requeue::kFailure;
  if (failure) {
    job->failures += 1;
    if (job->failures > j.spec().max_restarts()) {
      FailLocked(job,
                 absl::StrCat(reason, "; ", job->failures - 1, " of ", j.spec().max_restarts(),
                              " restarts used"),
                 event);
      return absl::OkStatus();
    }
  }
  const std::string old_worker = j.worker_id();
  const int32_t old_attempt = j.attempt();
  j.set_state(v1::JOB_STATE_QUEUED);
  j.set_attempt(j.attempt() + 1);
  if (why != Requeue::kPreempted) j.set_restarts(j.restarts() + 1);
  j.clear_worker_id();
  j.set_epoch(job->latest_checkpoint.epoch());
  j.set_global_step(job->latest_checkpoint.global_step());
  job->queued_ms = NowMs();
  job->not_before_ms =
      failure ? job->queued_ms + RetryBackoffMs(job->failures, options_.retry_backoff_ms,
                                                options_.retry_backoff_max_ms)
              : 0;
  const std::string from =
      job->latest_checkpoint.checkpoint_id().empty()
          ? "from the start"
          : absl::StrCat("from checkpoint ", job->latest_checkpoint.checkpoint_id(), " (epoch ",
                         job->latest_checkpoint.epoch(), ")");
  j.set_reason(absl::StrCat("requeued: ", reason, "; attempt ", j.attempt(), " resumes ", from));
  requeue_notes_[j.job_id()] = j.reason();
  *event = StateEvent(j, j.reason());
  // The event belongs to the attempt that ended.
  event->attempt = old_attempt;
  event->event.mutable_state()->set_worker_id(old_worker);
  if (metrics_ != nullptr && why != Requeue::kPreempted) metrics_->CountRestart(j.job_id());
  return absl::OkStatus();
}

}  // namespace fornax::server
