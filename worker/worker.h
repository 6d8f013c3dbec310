// Worker: the fornax-worker daemon. It registers with the coordinator
// (capacity, devices, and the jobs it still runs), holds the Lease stream
// (heartbeats at the interval the coordinator asks for; assignments and
// cancels come down it), and runs each assignment as a JobAttempt. A sender
// thread drains the attempts' outboxes in order through ReportEvents and
// UploadCheckpoint. A checkpoint the coordinator refuses for good (over its
// --max-checkpoint-bytes, say; DATA_LOSS after 3 tries) fails its attempt
// with that cause (JobAttempt::RefuseCheckpoint), and its later checkpoints
// are dropped unsent; transient errors retry.
// When the coordinator goes away the worker re-registers with exponential
// backoff (100 ms doubling, at most 2 s) while its jobs keep training; their
// events wait in the outboxes and go out after the reconnect. A job the
// coordinator no longer gives this worker (RegisterResponse.abandon, or a
// report refused with FAILED_PRECONDITION / NOT_FOUND on two sessions in a
// row: the first refusal makes it register again) is stopped and forgotten.
// Shutdown() (SIGTERM) stops the job processes, flushes what they reported
// and a preempted result per attempt (up to 3 s), then calls Workers.Leave
// and ends the lease: the coordinator requeues their jobs and moves the
// hosted models' deployments at once. Then it drains: while the coordinator
// still sends clients here (Deployment.serving) for a deployment LOADING on
// another worker, it keeps serving, until that one is READY, then 1 s more
// (when it served a model) for clients that asked just before the switch;
// at most drain_timeout_ms or until StopDraining() (a second SIGTERM). The models are served until
// the Worker is destroyed, after Shutdown().
// Unless --inference-listen is "none" it also hosts models (model_host.h):
// HostModel/UnhostModel come down the lease, and every heartbeat (plus one
// at once on each state change) reports the hosted models.
// Thread-safety: Run() on one thread, Shutdown() from another.
#ifndef FORNAX_WORKER_WORKER_H_
#define FORNAX_WORKER_WORKER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/client_context.h"
#include "proto/fornax/v1/workers.grpc.pb.h"
#include "worker/coordinator_link.h"
#include "worker/job_attempt.h"
#include "worker/model_host.h"
#include "worker/worker_metrics.h"

namespace fornax::worker {

struct WorkerConfig {
  std::string coordinator = "127.0.0.1:7070";
  std::string name;  // worker_id; default: the host name
  std::string work_dir;
  std::string metrics_listen = "127.0.0.1:9465";
  std::string inference_listen = "127.0.0.1:0";  // "none": hosts no models
  fornax::v1::Resources capacity;                // slots: jobs at once
  std::string binary;                            // this executable, for `run-job`
  int step_interval_ms = 100;
  int max_backoff_ms = 2000;
  // AttemptEnv::max_job_files_bytes and max_job_files.
  int64_t max_job_files_bytes = int64_t{256} << 20;
  int64_t max_job_files = 10000;
  // How long Shutdown() keeps serving deployments that move (0: not at all).
  // With the 3 s flush, Leave and the inference server's 2 s stop, the
  // default fits systemd's TimeoutStopSec=30 (deploy/systemd).
  int64_t drain_timeout_ms = 20000;
  // ModelHostOptions::max_loads and old_version_grace (model_host.h says why
  // these defaults).
  int model_loads = 2;
  std::chrono::milliseconds old_version_grace{5000};
};

class Worker {
 public:
  // Starts the metrics endpoint; Unavailable when it cannot listen.
  static absl::StatusOr<std::unique_ptr<Worker>> Create(WorkerConfig config);
  ~Worker();

  std::string metrics_address() const { return metrics_->address(); }
  // Where hosted models are served; "" when hosting is off.
  std::string inference_address() const { return host_ ? host_->address() : ""; }
  void Run();
  void Shutdown();
  // Ends Shutdown()'s drain now (from another thread).
  void StopDraining();

 private:
  explicit Worker(WorkerConfig config);
  void ConnectionLoop();
  // Holds one registration's lease until it breaks or the worker stops.
  void HoldLease(const fornax::v1::RegisterResponse& registration);
  void SenderLoop();
  // Sends the attempt's next batch; false when there was nothing to send or
  // it failed (then it has backed off).
  bool SendNext(const std::string& session, const std::shared_ptr<JobAttempt>& attempt);
  void OnAssignment(const fornax::v1::Assignment& assignment);
  void OnCancel(const fornax::v1::CancelJob& cancel);
  void OnModel(const fornax::v1::LeaseResponse& message);  // host or unhost
  // After Leave: serves while clients are still sent here (see above).
  void DrainServing();
  // Starts the model host (WORK_DIR/models) unless hosting is off.
  absl::Status StartModelHost();
  // Wakes the heartbeat thread to report hosted models now.
  void BeatNow();
  // Workers.DownloadCheckpoint on the current session, retried across
  // reconnects until it succeeds, fails for good or the worker closes.
  absl::Status FetchCheckpoint(const std::string& checkpoint_id, const std::string& dest);
  void Remove(const std::string& key);
  std::vector<fornax::v1::RunningJob> Running();
  fornax::v1::Resources Free();
  void Log(const std::string& message);

  const WorkerConfig config_;
  CoordinatorLink link_;
  std::unique_ptr<WorkerMetrics> metrics_;
  std::unique_ptr<ModelHost> host_;  // null when hosting is off
  AttemptEnv env_;
  std::atomic<int> processes_{0};
  // The coordinator's --max-checkpoint-bytes from the last Register (0:
  // not said): a checkpoint over it is refused on every retry as well.
  std::atomic<int64_t> max_checkpoint_bytes_{0};

  std::mutex mu_;
  bool stopping_ = false;       // Shutdown began: no new jobs
  bool closed_ = false;         // flushed: the loops end
  bool drain_stopped_ = false;  // StopDraining() was called
  std::condition_variable cv_;  // outboxes changed, or stopping
  struct Entry {
    std::shared_ptr<JobAttempt> attempt;
    std::thread thread;
  };
  std::map<std::string, Entry> attempts_;     // by "job_id/attempt"
  grpc::ClientContext* lease_ctx_ = nullptr;  // the lease being held, and its session
  std::string lease_session_;
  // Attempts a report was refused for (FAILED_PRECONDITION / NOT_FOUND), by
  // key: the session that refused it.
  std::map<std::string, std::string> refused_;
  // The sender's DATA_LOSS and RESOURCE_EXHAUSTED refusals of the checkpoint
  // at the front of an attempt's outbox, by key and code (sender thread
  // only): each code has its own tries, so one does not use up the other's.
  std::map<std::string, std::map<absl::StatusCode, int>> checkpoint_limited_tries_;
  // The heartbeat thread waits on beat_cv_ between beats; beat_now_ asks for
  // one at once.
  std::mutex beat_mu_;
  std::condition_variable beat_cv_;
  bool beat_now_ = false;
  std::thread sender_;
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_WORKER_H_
