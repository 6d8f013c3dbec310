#include "worker/worker.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/grpc_status.h"

namespace fornax::worker {
namespace {

namespace v1 = fornax::v1;
using std::chrono::milliseconds;

constexpr size_t kMaxEventsPerReport = 256;
// Tries in all for one checkpoint refused with DATA_LOSS (a file that
// changed while it was read), and with RESOURCE_EXHAUSTED within the
// coordinator's size limit (its server out of threads for a moment); the
// sender tries again every 200 ms or so.
constexpr int kCheckpointDataLossTries = 3;
constexpr int kCheckpointExhaustedTries = 50;
constexpr auto kFlushOnShutdown = std::chrono::seconds(3);
constexpr auto kLeaveTimeout = std::chrono::seconds(1);
// While draining: how often the coordinator is asked, and how long the
// replica keeps serving after the last switch, for clients that asked for
// it just before (a predict's calls take well under this).
constexpr auto kDrainPoll = milliseconds(50);
constexpr auto kSwitchGrace = std::chrono::seconds(1);
constexpr char kVersion[] = "0.1.0";

std::string Key(const std::string& job_id, int attempt) {
  return absl::StrCat(job_id, "/", attempt);
}

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

}  // namespace

Worker::Worker(WorkerConfig config) : config_(std::move(config)), link_(config_.coordinator) {
  env_.worker_id = config_.name;
  env_.binary = config_.binary;
  env_.work_dir = config_.work_dir;
  env_.step_interval_ms = config_.step_interval_ms;
  env_.max_job_files_bytes = config_.max_job_files_bytes;
  env_.max_job_files = config_.max_job_files;
  env_.link = &link_;
  env_.on_event = [this] { cv_.notify_all(); };
  env_.on_process = [this](int delta) { metrics_->SetJobsRunning(processes_ += delta); };
}

// The host first: its thread calls back into the worker, and a download
// it waits on gives up once the worker is closed.
Worker::~Worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
  host_.reset();
}

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(WorkerConfig config) {
  if (config.name.empty()) config.name = HostName();
  std::unique_ptr<Worker> worker(new Worker(std::move(config)));
  absl::StatusOr<std::unique_ptr<WorkerMetrics>> metrics =
      WorkerMetrics::Start(worker->config_.metrics_listen);
  if (!metrics.ok()) return metrics.status();
  worker->metrics_ = *std::move(metrics);
  worker->env_.metrics = worker->metrics_.get();
  // Job dirs of a previous run are stale (their processes died with it);
  // the dataset cache is kept.
  std::error_code ec;
  std::filesystem::remove_all(worker->config_.work_dir + "/jobs", ec);
  std::filesystem::create_directories(worker->config_.work_dir + "/jobs", ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("--work-dir ", worker->config_.work_dir, ": cannot create: ", ec.message()));
  }
  absl::Status hosting = worker->StartModelHost();
  if (!hosting.ok()) return hosting;
  return worker;
}

absl::Status Worker::StartModelHost() {
  if (config_.inference_listen == "none") return absl::OkStatus();
  ModelHostOptions options;
  options.models_dir = config_.work_dir + "/models";
  options.listen = config_.inference_listen;
  options.metrics_registry = metrics_->registry();
  options.server_version = kVersion;
  options.max_loads = config_.model_loads;
  options.old_version_grace = config_.old_version_grace;
  options.fetch = [this](const std::string& checkpoint_id, const std::string& dest) {
    return FetchCheckpoint(checkpoint_id, dest);
  };
  options.on_change = [this] { BeatNow(); };
  options.log = [this](const std::string& message) { Log(message); };
  absl::StatusOr<std::unique_ptr<ModelHost>> host = ModelHost::Start(std::move(options));
  if (!host.ok()) return host.status();
  host_ = *std::move(host);
  return absl::OkStatus();
}

void Worker::BeatNow() {
  {
    std::lock_guard<std::mutex> lock(beat_mu_);
    beat_now_ = true;
  }
  beat_cv_.notify_all();
}

absl::Status Worker::FetchCheckpoint(const std::string& checkpoint_id, const std::string& dest) {
  // Retried across reconnects for as long as the worker runs: a coordinator
  // away for a while must not turn a deployment into FAILED.
  for (;;) {
    std::optional<std::string> session = link_.WaitSession(std::chrono::seconds(1));
    if (session) {
      absl::Status status = link_.DownloadCheckpoint(*session, checkpoint_id, dest);
      if (status.ok() || !IsTransient(status)) return status;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, milliseconds(200), [&] { return closed_; })) {
      return absl::UnavailableError("the worker is stopping");
    }
  }
}

void Worker::Log(const std::string& message) {
  std::cerr << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(), absl::UTCTimeZone())
            << "fornax-worker " << config_.name << ": " << message << std::endl;
}

void Worker::Run() {
  sender_ = std::thread([this] { SenderLoop(); });
  ConnectionLoop();
  sender_.join();
  std::map<std::string, Entry> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(attempts_);
  }
  for (auto& [key, entry] : left) {
    entry.attempt->Abandon();
    entry.thread.join();
  }
}

void Worker::Shutdown() {
  std::string session;  // of the lease held now; empty when the coordinator is away
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    Log("stopping: interrupting jobs and flushing their events");
    for (auto& [key, entry] : attempts_) entry.attempt->Interrupt();
    cv_.wait_for(lock, kFlushOnShutdown, [&] { return attempts_.empty(); });
    // The loops end, and the lease the coordinator ends at Leave is not
    // registered again.
    closed_ = true;
    if (lease_ctx_ != nullptr) session = lease_session_;
  }
  cv_.notify_all();
  // Leave marks this worker down at once (rather than after the lease
  // timeout), so its deployments move now. Its models are served until the
  // Worker is destroyed, after this.
  absl::Status left = absl::UnavailableError("no lease held");
  if (!session.empty()) {
    left = link_.Leave(session, kLeaveTimeout);
    Log(left.ok() ? "left the coordinator: its deployments move to other workers"
                  : absl::StrCat("leave: ", left.ToString(),
                                 "; the coordinator notices at the lease timeout"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lease_ctx_ != nullptr) lease_ctx_->TryCancel();
  }
  link_.Shutdown();
  if (left.ok()) DrainServing();
}

void Worker::StopDraining() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    drain_stopped_ = true;
  }
  cv_.notify_all();
}

void Worker::DrainServing() {
  if (!host_ || config_.drain_timeout_ms <= 0) return;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + milliseconds(config_.drain_timeout_ms);
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start)
        .count();
  };
  // Clients may be on their way to a model READY here, even when its
  // deployment switched to another worker before the first ask.
  const std::vector<v1::HostedModel> hosted = host_->Hosted();
  const bool served = std::any_of(hosted.begin(), hosted.end(), [](const v1::HostedModel& m) {
    return m.state() == v1::HostedModel::STATE_READY;
  });
  bool waited = false;  // logged the deployments it waits for
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    lock.unlock();
    absl::StatusOr<v1::ListDeploymentsResponse> list = link_.ListDeployments(kLeaveTimeout);
    lock.lock();
    // A transient error (the coordinator restarting) is asked again.
    if (!list.ok() && !IsTransient(list.status())) {
      Log(absl::StrCat("drain: ", list.status().ToString(), "; stopping"));
      return;
    }
    if (list.ok()) {
      // A PENDING or FAILED one would not answer elsewhere sooner for waiting.
      std::vector<std::string> moving;
      for (const v1::Deployment& d : list->deployments()) {
        if (d.serving().worker_id() == config_.name && d.worker_id() != config_.name &&
            d.state() == v1::DEPLOYMENT_STATE_LOADING) {
          moving.push_back(absl::StrCat(d.name(), " (to ", d.worker_id(), ")"));
        }
      }
      if (moving.empty()) {
        if (!served) return;
        Log(absl::StrCat("drain: no deployment served here is LOADING elsewhere (after ",
                         elapsed_ms(), " ms); serving ", kSwitchGrace.count(),
                         " s more for clients on their way"));
        cv_.wait_for(lock, kSwitchGrace, [&] { return drain_stopped_; });
        return;
      }
      if (!waited) {
        Log(absl::StrCat("drain: serving until these are READY elsewhere (at most ",
                         config_.drain_timeout_ms,
                         " ms; SIGTERM again to stop now): ", absl::StrJoin(moving, ", ")));
        waited = true;
      }
    }
    if (cv_.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + kDrainPoll),
                       [&] { return drain_stopped_; })) {
      Log(absl::StrCat("drain: stopped by a second signal after ", elapsed_ms(), " ms"));
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      Log(absl::StrCat("drain: --drain-timeout passed after ", elapsed_ms(),
                       " ms; deployments still moving"));
      return;
    }
  }
}

void Worker::ConnectionLoop() {
  int backoff_ms = 100;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (closed_) return;
    }
    v1::RegisterRequest request;
    request.set_worker_id(config_.name);
    request.set_hostname(HostName());
    *request.mutable_capacity() = config_.capacity;
    request.add_devices("cpu");
    for (int i = 0; i < config_.capacity.gpus(); ++i) request.add_devices(absl::StrCat("cuda:", i));
    for (const v1::RunningJob& job : Running()) *request.add_running() = job;
    request.set_version(kVersion);
    if (host_) {
      request.set_inference_address(host_->address());
      for (const v1::HostedModel& model : host_->Hosted()) *request.add_hosted() = model;
    }
    grpc::ClientContext ctx;
    // Waits for the channel to connect (it retries at most every second)
    // rather than failing fast on a channel still backing off: a restarted
    // coordinator is found as soon as it listens.
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(config_.max_backoff_ms));
    v1::RegisterResponse response;
    absl::Status status = server::FromGrpc(link_.stub().Register(&ctx, request, &response));
    if (status.ok()) {
      Log(absl::StrCat("registered with ", config_.coordinator, " (session ", response.session_id(),
                       ", ", request.running_size(), " jobs running)"));
      max_checkpoint_bytes_ = response.max_checkpoint_bytes();
      const int64_t start = NowMs();
      HoldLease(response);
      // A lease that held a while ended by accident (the coordinator died or
      // restarted): reconnect at once. One refused at the start backs off.
      if (NowMs() - start > 1000) {
        backoff_ms = 100;
        continue;
      }
    } else if (status.code() == absl::StatusCode::kDeadlineExceeded) {
      continue;  // waited max_backoff_ms for the coordinator already
    } else {
      Log(absl::StrCat("register: ", status.ToString()));
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, milliseconds(backoff_ms), [&] { return closed_; });
    backoff_ms = std::min(backoff_ms * 2, config_.max_backoff_ms);
  }
}

void Worker::HoldLease(const v1::RegisterResponse& registration) {
  for (const v1::RunningJob& job : registration.abandon()) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attempts_.find(Key(job.job_id(), job.attempt()));
    if (it == attempts_.end()) continue;
    Log(absl::StrCat("job ", it->first, " is no longer ours: stopping it"));
    it->second.attempt->Abandon();
  }
  const std::string session = registration.session_id();
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    lease_ctx_ = &ctx;
    lease_session_ = session;
  }
  auto stream = link_.stub().Lease(&ctx);
  link_.SetSession(session);
  cv_.notify_all();

  const int64_t interval_ms = std::max<int64_t>(
      50, registration.heartbeat_interval_ms() > 0 ? registration.heartbeat_interval_ms() : 1000);
  const int64_t timeout_ms =
      registration.lease_timeout_ms() > 0 ? registration.lease_timeout_ms() : 10000;
  std::atomic<int64_t> last_ack_ms{0};
  bool done = false;  // guarded by beat_mu_
  std::thread heartbeat([&] {
    std::unique_lock<std::mutex> lock(beat_mu_);
    while (!done) {
      beat_now_ = false;
      v1::LeaseRequest beat;
      beat.set_session_id(session);
      *beat.mutable_free() = Free();
      for (const v1::RunningJob& job : Running()) *beat.add_running() = job;
      if (host_) {
        for (const v1::HostedModel& model : host_->Hosted()) *beat.add_hosted() = model;
      }
      lock.unlock();
      const bool written = stream->Write(beat);
      lock.lock();
      if (!written) break;
      beat_cv_.wait_for(lock, milliseconds(interval_ms), [&] { return done || beat_now_; });
      // A coordinator that acks but has gone silent (a partition rather than
      // a closed connection): give up on this lease and re-register.
      const int64_t last = last_ack_ms.load();
      if (!done && last > 0 && NowMs() - last > timeout_ms) {
        Log("coordinator silent for longer than the lease timeout; reconnecting");
        ctx.TryCancel();
        break;
      }
    }
  });
  v1::LeaseResponse response;
  while (stream->Read(&response)) {
    if (response.has_assign()) OnAssignment(response.assign());
    if (response.has_cancel()) OnCancel(response.cancel());
    if (response.has_heartbeat_ack()) last_ack_ms = NowMs();
    if (response.has_host() || response.has_unhost()) OnModel(response);
  }
  {
    std::lock_guard<std::mutex> lock(beat_mu_);
    done = true;
  }
  beat_cv_.notify_all();
  heartbeat.join();
  absl::Status status = server::FromGrpc(stream->Finish());
  link_.DropSession(session);
  std::lock_guard<std::mutex> lock(mu_);
  lease_ctx_ = nullptr;
  if (!closed_) Log(absl::StrCat("lease ended (", status.ToString(), "); reconnecting"));
}

void Worker::OnAssignment(const v1::Assignment& assignment) {
  const std::string key = Key(assignment.job_id(), assignment.attempt());
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || attempts_.count(key) > 0) return;  // a repeat after a reconnect
  Log(absl::StrCat("assigned job ", key,
                   assignment.resume_from().checkpoint_id().empty()
                       ? ""
                       : absl::StrCat(", resuming at epoch ", assignment.resume_from().epoch())));
  Entry& entry = attempts_[key];
  entry.attempt = std::make_shared<JobAttempt>(assignment, &env_);
  entry.thread = std::thread([attempt = entry.attempt] { attempt->Run(); });
}

void Worker::OnModel(const v1::LeaseResponse& message) {
  if (!host_) {
    Log("asked to host or unhost a model, but hosting is off (--inference-listen none)");
  } else if (message.has_host()) {
    host_->Host(message.host());
  } else {
    host_->Unhost(message.unhost().name());
  }
}

void Worker::OnCancel(const v1::CancelJob& cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = attempts_.find(Key(cancel.job_id(), cancel.attempt()));
  if (it == attempts_.end()) return;
  Log(absl::StrCat("cancelling job ", it->first, ": ", cancel.reason()));
  it->second.attempt->Cancel();
}

std::vector<v1::RunningJob> Worker::Running() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::RunningJob> running;
  for (const auto& [key, entry] : attempts_) {
    if (entry.attempt->abandoned()) continue;
    v1::RunningJob& job = running.emplace_back();
    job.set_job_id(entry.attempt->assignment().job_id());
    job.set_attempt(entry.attempt->assignment().attempt());
  }
  return running;
}

v1::Resources Worker::Free() {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Resources free = config_.capacity;
  for (const auto& [key, entry] : attempts_) {
    if (entry.attempt->finished()) continue;
    const v1::Resources& used = entry.attempt->assignment().spec().resources();
    free.set_slots(std::max(0, free.slots() - 1));
    free.set_gpus(std::max(0, free.gpus() - used.gpus()));
    free.set_cpus(std::max(0, free.cpus() - used.cpus()));
    free.set_memory_bytes(std::max<int64_t>(0, free.memory_bytes() - used.memory_bytes()));
  }
  return free;
}

void Worker::Remove(const std::string& key) {
  Entry entry;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attempts_.find(key);
    if (it == attempts_.end()) return;
    entry = std::move(it->second);
    attempts_.erase(it);
    refused_.erase(key);
  }
  checkpoint_limited_tries_.erase(key);
  entry.thread.join();
  std::error_code ec;
  std::filesystem::remove_all(entry.attempt->dir(), ec);
  cv_.notify_all();
}

void Worker::SenderLoop() {
  for (;;) {
    std::vector<std::pair<std::string, std::shared_ptr<JobAttempt>>> attempts;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      for (const auto& [key, entry] : attempts_) attempts.emplace_back(key, entry.attempt);
    }
    std::optional<std::string> session = link_.WaitSession(milliseconds(0));
    bool progress = false;
    for (const auto& [key, attempt] : attempts) {
      if (attempt->abandoned()) {
        if (attempt->finished()) Remove(key);
        continue;
      }
      if (session) progress = SendNext(*session, attempt) || progress;
      if (attempt->outbox().Done()) Remove(key);
    }
    if (progress) continue;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, milliseconds(100));
  }
}

bool Worker::SendNext(const std::string& session, const std::shared_ptr<JobAttempt>& attempt) {
  JobOutbox& outbox = attempt->outbox();
  JobOutbox::Batch batch = outbox.Next(kMaxEventsPerReport);
  if (batch.empty()) return false;
  const std::string key = Key(outbox.job_id(), outbox.attempt());
  absl::Status status;
  if (batch.checkpoint) {
    if (!std::filesystem::exists(batch.checkpoint->path)) {
      Log(absl::StrCat("job ", key, ": checkpoint ", batch.checkpoint->path, " vanished"));
      outbox.AckCheckpoint();
      return true;
    }
    if (attempt->checkpoint_refused()) {
      // The attempt fails already; the rest would only hold back its result.
      outbox.AckCheckpoint();
      return true;
    }
    absl::StatusOr<v1::CheckpointRecord> record =
        link_.UploadCheckpoint(session, outbox.job_id(), outbox.attempt(), *batch.checkpoint);
    status = record.status();
    // Over the coordinator's limit, the same checkpoint would be refused
    // every time, a retry's too; RESOURCE_EXHAUSTED within it is a passing
    // lack of server threads, worth a few more tries.
    const int64_t cap = max_checkpoint_bytes_;
    const bool exhausted = status.code() == absl::StatusCode::kResourceExhausted;
    const bool every_time = exhausted && cap > 0 && batch.checkpoint->header.size_bytes() > cap;
    const int tries = status.code() == absl::StatusCode::kDataLoss ? kCheckpointDataLossTries
                      : exhausted && !every_time                   ? kCheckpointExhaustedTries
                                                                   : 0;
    const bool retry = IsTransient(status) ||
                       status.code() == absl::StatusCode::kFailedPrecondition ||
                       status.code() == absl::StatusCode::kNotFound ||
                       ++checkpoint_limited_tries_[key][status.code()] < tries;
    if (!retry) {
      // Uploaded, or refused for good: retrying forever would hold back the
      // attempt's result, so the attempt fails with the refusal instead.
      checkpoint_limited_tries_.erase(key);
      if (record.ok()) {
        outbox.AckCheckpoint();
      } else {
        Log(absl::StrCat("job ", key, ": checkpoint at epoch ", batch.checkpoint->header.epoch(),
                         " refused: ", status.ToString(), "; the attempt fails",
                         every_time ? " and is not worth retrying" : ""));
        attempt->RefuseCheckpoint(*batch.checkpoint, status, every_time);
      }
      std::error_code ec;
      if (!batch.checkpoint->header.final()) std::filesystem::remove(batch.checkpoint->path, ec);
      return true;
    }
  } else if (batch.file) {
    absl::StatusOr<v1::JobFile> file =
        link_.UploadJobFile(session, outbox.job_id(), outbox.attempt(), *batch.file);
    status = file.status();
    // Given up unless a retry can help: a refusal of the file itself (its
    // path, a vanished file) must not hold back the attempt's result.
    if (status.ok() ||
        !(IsTransient(status) || status.code() == absl::StatusCode::kFailedPrecondition)) {
      if (!status.ok()) {
        Log(absl::StrCat("job ", key, ": file ", batch.file->header.path(),
                         " not uploaded: ", status.ToString()));
      }
      outbox.AckFile();
      return true;
    }
  } else {
    absl::StatusOr<int64_t> acked =
        link_.ReportEvents(session, outbox.job_id(), outbox.attempt(), batch.events);
    if (acked.ok() && *acked >= batch.events.front().worker_sequence()) {
      outbox.AckEvents(*acked);
      return true;
    }
    status =
        acked.ok()
            ? absl::DataLossError(absl::StrCat("coordinator acked ", *acked, " of events from ",
                                               batch.events.front().worker_sequence()))
            : acked.status();
  }
  if (status.code() == absl::StatusCode::kFailedPrecondition ||
      status.code() == absl::StatusCode::kNotFound) {
    // The session may be stale (a restarted coordinator knows none of the
    // old ones) or the job may be someone else's now. Registering again
    // settles it: the coordinator re-attaches the job or lists it to
    // abandon. Refused again on the new session, it is not ours.
    std::unique_lock<std::mutex> lock(mu_);
    std::string& refused = refused_[key];
    if (refused.empty() || refused == session) {
      refused = session;
      Log(absl::StrCat("job ", key, ": ", status.ToString(), "; registering again"));
      if (lease_ctx_ != nullptr && lease_session_ == session) lease_ctx_->TryCancel();
      lock.unlock();
      link_.DropSession(session);
      return false;
    }
    lock.unlock();
    Log(absl::StrCat("job ", key, " is no longer ours (", status.ToString(), "): stopping it"));
    attempt->Abandon();
    return false;
  }
  if (!IsTransient(status)) Log(absl::StrCat("job ", key, ": report: ", status.ToString()));
  std::this_thread::sleep_for(milliseconds(200));
  return false;
}

}  // namespace fornax::worker
