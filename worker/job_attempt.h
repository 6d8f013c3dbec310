// JobAttempt: one assignment on this worker, from the coordinator's
// Assignment to its AttemptResult. Run() (on its own thread) materializes
// the job dir (job_dir.h), downloads the checkpoint to resume from, starts
// the job process (job_process.h) and turns what it reports into the
// attempt's outbox (event_outbox.h): RUNNING, step and epoch metrics, log
// lines, checkpoints (hashed, for upload), once the process ended by itself
// the files it wrote in JOBDIR/files, and finally the result: success,
// cancelled, preempted (the worker shuts down), or a failure with the exit
// code or signal, the engine's error, the last log lines, and the epoch and
// step it reached. A checkpoint the coordinator refuses for good turns the
// result into a failure naming it (RefuseCheckpoint).
// Thread-safety: Cancel/Interrupt/Abandon from any thread while Run runs.
#ifndef FORNAX_WORKER_JOB_ATTEMPT_H_
#define FORNAX_WORKER_JOB_ATTEMPT_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "proto/fornax/v1/workers.pb.h"
#include "worker/coordinator_link.h"
#include "worker/event_outbox.h"
#include "worker/job_process.h"
#include "worker/worker_metrics.h"

namespace fornax::worker {

// What attempts share: the worker's identity, files and connections.
struct AttemptEnv {
  std::string worker_id;
  std::string binary;    // fornax-worker, for the job process
  std::string work_dir;  // jobs/ and datasets/ under it
  int step_interval_ms = 100;
  // The most bytes, and the most files, of JOBDIR/files an attempt
  // uploads; more and none go.
  int64_t max_job_files_bytes = int64_t{256} << 20;
  int64_t max_job_files = 10000;
  CoordinatorLink* link = nullptr;
  WorkerMetrics* metrics = nullptr;
  std::function<void()> on_event;             // something was added to an outbox
  std::function<void(int delta)> on_process;  // a job process started (+1) or ended (-1)
};

class JobAttempt {
 public:
  JobAttempt(fornax::v1::Assignment assignment, const AttemptEnv* env);

  void Run();
  // Stops the job; its result says cancelled.
  void Cancel();
  // Stops the job because the worker shuts down; its result says preempted,
  // so the coordinator requeues it at once.
  void Interrupt();
  // Stops the job and drops what it has not reported: it is no longer ours.
  void Abandon();
  // The coordinator refused `upload`, the checkpoint at the front of the
  // outbox, for good (`status`): it is dropped and the attempt fails with
  // that cause, whether its result is queued already (it is replaced) or
  // not (a process still running is stopped: the checkpoints to come would
  // fare no better, and the job could not resume from them). A cancelled or
  // preempted result stays as it is. Once only: the later checkpoints are not
  // sent (checkpoint_refused). `every_time`: a retry's checkpoint would be
  // refused as well (over the coordinator's limit), so the failure asks the
  // coordinator not to retry (Failure.not_retried_because).
  void RefuseCheckpoint(const CheckpointUpload& upload, const absl::Status& status,
                        bool every_time);
  bool checkpoint_refused();

  const fornax::v1::Assignment& assignment() const { return assignment_; }
  JobOutbox& outbox() { return outbox_; }
  std::string dir() const;
  bool finished() const { return finished_; }
  bool abandoned() const { return abandoned_; }

 private:
  // Runs `call` with the current session, retrying transient errors across
  // reconnects (backoff up to 2 s) until it succeeds, fails for good, or the
  // attempt is stopped.
  absl::Status WithSession(const std::function<absl::Status(const std::string&)>& call);
  absl::Status Prepare(std::string* resume_path);
  void Emit(fornax::v1::WorkerEvent event);
  void OnChildEvent(const ChildMessage& m);
  void OnLog(const std::string& line, const std::string& stream);
  // Queues the files the job wrote for upload (before its result).
  void QueueFiles();
  void Finish(const absl::Status& prepare, const ProcessExit* exit);
  // The result from what Finish recorded (prepare_, exit_) and refusal_.
  fornax::v1::AttemptResult ResultLocked() const;
  bool stopped() const { return cancelled_ || interrupted_ || abandoned_; }

  const fornax::v1::Assignment assignment_;
  const AttemptEnv* env_;
  JobOutbox outbox_;
  std::atomic<bool> cancelled_{false}, interrupted_{false}, abandoned_{false}, finished_{false};

  std::mutex mu_;  // guards process_, what the pump thread records and the result
  std::unique_ptr<JobProcess> process_;
  absl::Status prepare_;             // set by Finish
  std::optional<ProcessExit> exit_;  // set by Finish when the process ran
  std::string refusal_;              // the refused checkpoint: why the attempt fails
  bool refused_every_time_ = false;  // and a retry would be refused the same way
  std::string stopped_because_;      // why the worker stopped the process, if it did
  bool result_queued_ = false;
  std::deque<std::string> last_lines_;
  std::string error_;
  bool saw_final_ = false;
  int epoch_ = 0;
  int64_t global_step_ = 0;
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_JOB_ATTEMPT_H_
