// The coordinator's state machine: jobs, workers and their leases, over the
// durable Store and ArtifactStore. The gRPC services are thin wrappers.
//
// Every change is committed to SQLite first and applied in memory only when
// the commit succeeded, under one mutex, so memory and disk never disagree.
// On Open() it reloads every job: queued ones stay queued, running ones keep
// their worker, whose lease clock starts now; a worker that re-registers
// listing them re-attaches them, otherwise they are requeued from their last
// checkpoint when the lease times out. docs/coordinator.md has the rules.
// Thread-safety: all methods may be called concurrently.
#ifndef FORNAX_SERVER_COORDINATOR_H_
#define FORNAX_SERVER_COORDINATOR_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/fornax/v1/deployments.pb.h"
#include "proto/fornax/v1/jobs.pb.h"
#include "proto/fornax/v1/workers.pb.h"
#include "server/artifact_store.h"
#include "server/event_log.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/store.h"

namespace fornax::server {

struct CoordinatorOptions {
  std::string data_dir;  // state.db and artifacts/ live here
  int64_t lease_timeout_ms = 10000;
  int64_t heartbeat_interval_ms = 1000;
  int64_t retry_backoff_ms = 1000;  // after the first crash; doubles per crash
  int64_t retry_backoff_max_ms = 60000;
  // The most bytes one job's files (JobFile) may hold together: a worker
  // declares each file's size up front, so more is refused before it sends.
  int64_t max_job_files_bytes = int64_t{256} << 20;
  // The most files (JobFile) one job may have: each upload is a record and
  // stored bytes, so a job writing many tiny files is refused past this.
  int64_t max_job_files = 10000;
  // The most bytes one checkpoint may declare; more is refused before a
  // byte is stored.
  int64_t max_checkpoint_bytes = int64_t{4} << 30;
  // How often stored bytes that no record names are removed (SweepArtifacts),
  // also once at Open; 0: never.
  int64_t artifact_sweep_interval_ms = int64_t{3600} * 1000;
  SchedulerOptions scheduler;
};

// A state-change event for `job` as it is now (its state, worker, attempt).
NewEvent StateEvent(const v1::Job& job, const std::string& reason);

// One registration of a worker: the queue of messages for its Lease stream.
class LeaseSession {
 public:
  LeaseSession(std::string id, std::string worker_id)
      : id_(std::move(id)), worker_id_(std::move(worker_id)) {}
  const std::string& id() const { return id_; }
  const std::string& worker_id() const { return worker_id_; }

  void Push(v1::LeaseResponse message);
  // Waits up to `timeout` for a message; nullopt when none came or closed.
  std::optional<v1::LeaseResponse> Pop(std::chrono::milliseconds timeout);
  // Ends the session: Pop returns nullopt and the OnClose hook runs.
  void Close();
  bool closed() const;
  // Sets what Close() runs (the stream handler cancels its call), or clears
  // it with nullptr; runs it at once when already closed. The hook runs
  // under the session's lock: it must not call back into the session.
  void OnClose(std::function<void()> on_close);

 private:
  const std::string id_;
  const std::string worker_id_;
  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::deque<v1::LeaseResponse> outbox_;  // guarded by mu_
  bool closed_ = false;                   // guarded by mu_
  std::function<void()> on_close_;        // guarded by mu_
};

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Open(const CoordinatorOptions& options,
                                                           Metrics* metrics);
  ~Coordinator();  // stops the lease reaper and the artifact sweep
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Ends watches and lease streams; later calls fail with Unavailable.
  void Shutdown();

  const CoordinatorOptions& options() const { return options_; }
  Store& store() { return *store_; }
  ArtifactStore& artifacts() { return *artifacts_; }
  EventLog& events() { return events_; }

  // Jobs (fornax.v1.Jobs).
  absl::StatusOr<v1::Job> SubmitJob(const v1::JobSpec& spec);
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> CancelJob(const std::string& job_id, const std::string& reason);
  absl::StatusOr<std::vector<v1::CheckpointRecord>> ListCheckpoints(const std::string& job_id);
  // checkpoint_id empty: the final checkpoint, else the latest one.
  absl::StatusOr<v1::CheckpointRecord> FindCheckpoint(const std::string& job_id,
                                                      const std::string& checkpoint_id);
  // The files the job's attempts wrote (JobFile), by path.
  absl::StatusOr<std::vector<v1::JobFile>> ListJobFiles(const std::string& job_id);
  // NotFound naming `path` and the job's files when it has no such file.
  absl::StatusOr<v1::JobFile> FindJobFile(const std::string& job_id, const std::string& path);
  // FailedPrecondition while a job that has not ended reads the dataset.
  // REQUIRES: the dataset's artifact lock held (DeleteDataset holds it):
  // SubmitJob holds its inputs' locks from checking them to storing the job,
  // so no job can come to use the dataset until that lock is released.
  absl::Status CheckDatasetUnused(const std::string& sha256);

  // Removes the stored files that no dataset, checkpoint or job file names
  // (an upload refused when recorded, a crash between storing and
  // recording): how many, and their bytes.
  struct Swept {
    int64_t files = 0;
    int64_t bytes = 0;
  };
  absl::StatusOr<Swept> SweepArtifacts();

  // Workers (fornax.v1.Workers).
  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request);
  // The session a Lease stream serves; FailedPrecondition when unknown or
  // replaced by a newer registration.
  absl::StatusOr<std::shared_ptr<LeaseSession>> AttachLease(const std::string& session_id);
  // One heartbeat on a lease stream.
  absl::Status Heartbeat(const LeaseSession& session, const v1::LeaseRequest& request);
  absl::StatusOr<v1::ReportEventsResponse> ReportEvents(const v1::ReportEventsRequest& request);
  // The worker of `session_id` is stopping: marks it down and ends its
  // lease, requeues its jobs as preempted and places its deployments on
  // other workers, all at once. FailedPrecondition when the session is not
  // its worker's current one.
  absl::Status Leave(const std::string& session_id);
  // FailedPrecondition unless the session's worker holds the job's attempt.
  absl::Status CheckHolds(const std::string& session_id, const std::string& job_id,
                          int32_t attempt);
  // FailedPrecondition for a session this coordinator never issued.
  absl::Status CheckSession(const std::string& session_id);
  // Records a checkpoint whose bytes are already in the artifact store.
  absl::StatusOr<v1::CheckpointRecord> RecordCheckpoint(const v1::UploadCheckpointHeader& header);
  // InvalidArgument unless `path` is relative, '/'-separated, without '.',
  // '..' or empty components: a JobFile's path.
  static absl::Status CheckJobFilePath(const std::string& path);
  // ResourceExhausted when the job's files, with `header`'s replacing the
  // one of its path, would be more than max_job_files or hold more than
  // max_job_files_bytes.
  absl::Status CheckJobFilesFit(const v1::UploadJobFileHeader& header);
  // Records a file the worker's attempt wrote, whose bytes are already in
  // the artifact store, replacing the job's earlier file of that path;
  // CheckJobFilesFit again, for uploads that ran side by side.
  absl::StatusOr<v1::JobFile> RecordJobFile(const v1::UploadJobFileHeader& header);
  v1::ListWorkersResponse ListWorkers();

  // Deployments (fornax.v1.Deployments): a job's checkpoint served by a
  // worker; rules in docs/coordinator.md ("Deployments").
  absl::StatusOr<v1::Deployment> Deploy(const v1::DeployRequest& request);
  absl::StatusOr<v1::Deployment> GetDeployment(const std::string& name);
  v1::ListDeploymentsResponse ListDeployments();
  absl::StatusOr<v1::Deployment> Undeploy(const std::string& name);

 private:
  struct WorkerState {
    v1::WorkerInfo info;
    std::shared_ptr<LeaseSession> session;  // null until it registers
    int64_t last_heartbeat_ms = 0;
    bool up = false;
    std::string inference_address;  // empty: it hosts no models
    // It reported a preempted attempt (it is shutting down): no new jobs
    // until it registers again.
    bool draining = false;
    // Its running jobs (by "job_id#attempt") that its latest heartbeats did
    // not list: since when, and in how many heartbeats in a row.
    struct Missing {
      int64_t since_ms = 0;
      int heartbeats = 0;
    };
    std::map<std::string, Missing> missing;
  };

  // Why a running job goes back to the queue.
  enum class Requeue {
    kFailure,    // it failed: counts against max_restarts, retried after the backoff
    kLost,       // its worker lost it: a restart, but not the job's fault
    kPreempted,  // its worker stopped it to shut down: neither a restart nor a failure
  };

  Coordinator(CoordinatorOptions options, Metrics* metrics, std::unique_ptr<Store> store,
              std::unique_ptr<ArtifactStore> artifacts);
  absl::Status Recover();
  void ReaperLoop();
  // SweepArtifacts every artifact_sweep_interval_ms until Shutdown.
  void SweepLoop();
  // SweepArtifacts, logging what it removed or why it failed.
  void SweepAndLog();

  // REQUIRES: mu_ held. Commits `job` (a modified copy of the stored one)
  // with its events, then applies it in memory and wakes watchers.
  absl::StatusOr<std::vector<v1::JobEvent>> CommitLocked(
      StoredJob job, std::vector<NewEvent> events,
      std::optional<v1::CheckpointRecord> checkpoint = std::nullopt);
  StoredJob* FindLocked(const std::string& job_id);
  // Moves a running job back to the queue with attempt + 1 (from its latest
  // checkpoint), as `why` says; a failure with no restarts left fails it
  // instead.
  absl::Status RequeueLocked(StoredJob* job, const std::string& reason, Requeue why,
                             NewEvent* event);
  // Ends a running job as FAILED, "failed: <reason>".
  void FailLocked(StoredJob* job, const std::string& reason, NewEvent* event);
  // Requeues each (job id, reason) as `why`, committing each on its own; a
  // job whose requeue fails is logged and stays running for a later pass
  // (lease expiry, the next heartbeat) to retry.
  void RequeueEachLocked(const std::vector<std::pair<std::string, std::string>>& jobs, Requeue why);
  // The ids of the running jobs assigned to one of `workers`.
  std::vector<std::string> RunningOnLocked(const std::set<std::string>& workers);
  // Marks a worker down and ends its lease stream.
  void MarkDownLocked(WorkerState& w);
  void ScheduleLocked();
  void ExpireLeasesLocked(int64_t now_ms);
  void RefreshGaugesLocked();
  absl::StatusOr<std::string> WorkerOfSessionLocked(const std::string& session_id);
  // Compares a heartbeat's running list with the jobs assigned to the
  // worker: cancels what it runs that is not its, requeues what it lost.
  void ReconcileRunningLocked(const std::string& worker_id,
                              const google::protobuf::RepeatedPtrField<v1::RunningJob>& running,
                              int64_t now_ms);
  absl::Status ApplyResultLocked(StoredJob* job, const v1::AttemptResult& result, NewEvent* event);

  // Deployments (coordinator_deployments.cc). REQUIRES: mu_ held.
  // Commits `deployment` (update_time set here), then keeps it in memory.
  absl::Status PutDeploymentLocked(v1::Deployment deployment);
  // PutDeploymentLocked for a caller that cannot fail: a failure is logged,
  // and the deployment stays as it was in memory for a later pass to retry.
  void PutDeploymentOrLogLocked(v1::Deployment deployment);
  // `preferred` when that worker is up and hosts models, else the up
  // hosting worker with the fewest deployments but `name`; "" when none.
  std::string PickHostLocked(const std::string& preferred, const std::string& name);
  // Places `deployment` on PickHostLocked's choice (PENDING when none),
  // commits it and sends HostModel to its worker.
  absl::Status PlaceLocked(v1::Deployment deployment, const std::string& preferred = "");
  void PlacePendingLocked();
  // Applies a worker's reports of the models it hosts.
  void ApplyHostedLocked(const std::string& worker_id,
                         const google::protobuf::RepeatedPtrField<v1::HostedModel>& hosted);
  // At Register: unhosts what is not placed there, hosts again what it lost.
  void ReconcileHostedLocked(const v1::RegisterRequest& request);
  // Moves the deployments of `workers` back to PENDING and places them again.
  // The replicas they serve keep answering (Deployment.serving) when
  // `still_serving` (a worker that left serves until it exits); otherwise
  // they are forgotten, and clients wait for the new placement.
  void ReplaceDeploymentsLocked(const std::set<std::string>& workers, const std::string& why,
                                bool still_serving);
  void RefreshDeploymentGaugeLocked();

  const CoordinatorOptions options_;
  Metrics* const metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  EventLog events_;

  std::mutex mu_;
  std::map<int64_t, StoredJob> jobs_;                  // by order; guarded by mu_
  std::map<std::string, int64_t> job_orders_;          // job_id -> order; guarded by mu_
  std::map<std::string, WorkerState> workers_;         // guarded by mu_
  std::map<std::string, std::string> session_worker_;  // every session issued; guarded by mu_
  // "job_id#attempt" -> highest worker_sequence stored; guarded by mu_
  std::map<std::string, int64_t> acked_;
  // job_id -> why it was last requeued, shown with its waiting reason until
  // it runs again; guarded by mu_
  std::map<std::string, std::string> requeue_notes_;
  std::map<std::string, v1::Deployment> deployments_;  // by name; guarded by mu_
  int64_t next_order_ = 1;                             // guarded by mu_
  int64_t next_session_ = 1;                           // guarded by mu_
  bool shutdown_ = false;                              // guarded by mu_
  std::condition_variable reaper_wake_;
  std::thread reaper_;
  std::condition_variable sweep_wake_;  // waited on with mu_, to end at Shutdown
  std::thread sweeper_;
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_COORDINATOR_H_
