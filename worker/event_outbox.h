// JobOutbox: what one job attempt has to tell the coordinator, in order:
// events (numbered worker_sequence 1, 2, 3, ... as they are added),
// checkpoints and the files the job wrote (JOBDIR/files) to upload. Nothing leaves it until the
// coordinator has it: the sender takes the next batch, and drops it only on an ack (events up to
// ReportEventsResponse.acked_sequence; a checkpoint once uploaded). While the
// coordinator is away everything stays here and is resent after the
// reconnect; the coordinator stores each (job, attempt, worker_sequence)
// once, so a resend after a lost ack is harmless.
// A checkpoint or file is a barrier: the events before it go first, those
// after it wait for its upload, so the final result follows the final model
// and the job's files. A checkpoint refused for good is dropped, and the
// result queued behind it replaced by a failure saying why (ReplaceResult).
// Thread-safety: all methods are safe to call concurrently.
#ifndef FORNAX_WORKER_EVENT_OUTBOX_H_
#define FORNAX_WORKER_EVENT_OUTBOX_H_

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "proto/fornax/v1/workers.pb.h"

namespace fornax::worker {

struct CheckpointUpload {
  std::string path;                           // the .keras file
  fornax::v1::UploadCheckpointHeader header;  // without session_id
};

struct JobFileUpload {
  std::string path;                        // the file on this machine
  fornax::v1::UploadJobFileHeader header;  // without session_id, job_id, attempt
};

class JobOutbox {
 public:
  JobOutbox(std::string job_id, int attempt) : job_id_(std::move(job_id)), attempt_(attempt) {}

  const std::string& job_id() const { return job_id_; }
  int attempt() const { return attempt_; }

  // Assigns the event its worker_sequence and returns it.
  int64_t AddEvent(fornax::v1::WorkerEvent event);
  void AddCheckpoint(CheckpointUpload upload);
  void AddFile(JobFileUpload upload);
  // No more items will be added (the attempt's result is in).
  void Close();

  // The next thing to send: up to `max_events` events (from the first
  // unacked one), or a checkpoint or file when it is next. Empty when
  // nothing waits.
  struct Batch {
    std::vector<fornax::v1::WorkerEvent> events;
    std::optional<CheckpointUpload> checkpoint;
    std::optional<JobFileUpload> file;
    bool empty() const { return events.empty() && !checkpoint && !file; }
  };
  Batch Next(size_t max_events) const;
  // The coordinator stored every event up to `sequence`.
  void AckEvents(int64_t sequence);
  // The checkpoint at the front was uploaded.
  void AckCheckpoint();
  // The file at the front was uploaded (or given up).
  void AckFile();
  // Replaces the queued result event's result (it keeps its sequence).
  void ReplaceResult(fornax::v1::AttemptResult result);

  // Closed and everything acked: the attempt is fully reported.
  bool Done() const;
  size_t pending() const;

 private:
  struct Item {
    std::optional<fornax::v1::WorkerEvent> event;
    std::optional<CheckpointUpload> checkpoint;
    std::optional<JobFileUpload> file;
  };
  const std::string job_id_;
  const int attempt_;
  mutable std::mutex mu_;
  std::deque<Item> items_;
  int64_t next_sequence_ = 1;
  bool closed_ = false;
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_EVENT_OUTBOX_H_
