// The coordinator's durable state: one SQLite database (WAL mode) holding
// jobs, their event logs, datasets, checkpoints and workers. This is the only
// file that knows SQL. Every write is one transaction, so a coordinator killed
// at any point restarts from a consistent state.
//
// Schema (PRAGMA user_version = 1), documented in docs/coordinator.md:
//   jobs(job_id, ord, state, failures, not_before_ms, queued_ms, job, latest_checkpoint)
//   job_events(job_id, sequence, attempt, worker_sequence, event)
//   datasets(sha256, name, size_bytes, create_ms)
//   checkpoints(checkpoint_id, job_id, attempt, record)
//   workers(worker_id, info)
//   deployments(name, deployment)
//   job_files(job_id, path, attempt, sha256, size_bytes, create_ms)
//
// Thread-safety: all methods may be called concurrently. Writes serialize on
// one connection; reads use a second connection and see committed data only.
#ifndef FORNAX_SERVER_STORE_H_
#define FORNAX_SERVER_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/fornax/v1/datasets.pb.h"
#include "proto/fornax/v1/deployments.pb.h"
#include "proto/fornax/v1/jobs.pb.h"
#include "proto/fornax/v1/workers.pb.h"

struct sqlite3;

namespace fornax::server {

// A job as the coordinator keeps it: the API view plus scheduling state.
struct StoredJob {
  v1::Job job;
  int64_t order = 0;                       // submit order, 1, 2, 3, ...: FIFO and paging
  int32_t failures = 0;                    // crashes so far, counted against max_restarts
  int64_t not_before_ms = 0;               // retry backoff: not scheduled before this time
  int64_t queued_ms = 0;                   // when it last entered the queue (aging, latency)
  v1::CheckpointRecord latest_checkpoint;  // resume point; empty id: none
};

// An event to append. worker_sequence > 0 marks a worker's event, stored at
// most once per (job, attempt, worker_sequence); 0 is the coordinator's own.
struct NewEvent {
  v1::JobEvent event;  // job_id and sequence are filled in by the store
  int32_t attempt = 0;
  int64_t worker_sequence = 0;
};

// A job's files together (JobFile): how many, and their bytes.
struct JobFilesUsage {
  int64_t count = 0;
  int64_t bytes = 0;
};

// One transaction: the job row as it is after the change, the events it
// logged and, optionally, a new checkpoint.
struct JobWrite {
  StoredJob* job = nullptr;  // written back with last_sequence and latest_checkpoint updated
  std::vector<NewEvent> events;
  std::optional<v1::CheckpointRecord> checkpoint = std::nullopt;  // its id is assigned here
  int32_t checkpoint_attempt = 0;
};

class Store {
 public:
  // Opens (creating when missing) the database file; NotFound-free: the
  // parent directory must exist.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Commits `write` in one transaction. Worker events already stored (same
  // job, attempt and worker_sequence) are skipped; the others get the job's
  // next sequence numbers. A checkpoint gets id "<job_id>-c<n>" and its own
  // event ahead of `events`. Returns the events stored, in order. On error
  // nothing is written and *write.job is unchanged.
  absl::StatusOr<std::vector<v1::JobEvent>> Write(const JobWrite& write);

  absl::StatusOr<std::vector<StoredJob>> LoadJobs();
  // The highest job order stored (0 when none).
  absl::StatusOr<int64_t> MaxJobOrder();
  // Up to `limit` events with sequence > after_sequence, oldest first.
  absl::StatusOr<std::vector<v1::JobEvent>> ReadEvents(const std::string& job_id,
                                                       int64_t after_sequence, int limit);
  absl::StatusOr<int64_t> MaxWorkerSequence(const std::string& job_id, int32_t attempt);

  absl::StatusOr<std::vector<v1::CheckpointRecord>> ListCheckpoints(const std::string& job_id);
  absl::StatusOr<std::optional<v1::CheckpointRecord>> GetCheckpoint(
      const std::string& checkpoint_id);

  // A file a job attempt wrote (JobFile): replaces the job's file of the
  // same path unless that one is from a later attempt.
  absl::Status PutJobFile(const std::string& job_id, const v1::JobFile& file);
  // The job's files, by path.
  absl::StatusOr<std::vector<v1::JobFile>> ListJobFiles(const std::string& job_id);
  // The job's files but the one at `except_path` (which an upload replaces).
  absl::StatusOr<JobFilesUsage> SumJobFiles(const std::string& job_id,
                                            const std::string& except_path);

  absl::Status PutDataset(const v1::Dataset& dataset);
  absl::StatusOr<std::optional<v1::Dataset>> GetDataset(const std::string& sha256);
  absl::StatusOr<std::vector<v1::Dataset>> ListDatasets();
  absl::Status DeleteDataset(const std::string& sha256);

  // Whether a dataset, checkpoint or job file names these bytes. The artifact
  // store keeps one copy of equal bytes for all of them: remove bytes from it
  // only when this says no.
  absl::StatusOr<bool> IsArtifactInUse(const std::string& sha256);
  // The sha256 of every dataset, checkpoint and job file, in one read: what
  // IsArtifactInUse says yes to, as of now.
  absl::StatusOr<std::unordered_set<std::string>> ReferencedArtifacts();

  absl::Status PutWorker(const v1::WorkerInfo& worker);
  absl::StatusOr<std::vector<v1::WorkerInfo>> LoadWorkers();

  // Deployments by name: a put replaces the row of the same name.
  absl::Status PutDeployment(const v1::Deployment& deployment);
  absl::Status DeleteDeployment(const std::string& name);
  absl::StatusOr<std::vector<v1::Deployment>> LoadDeployments();

 private:
  Store(sqlite3* write_db, sqlite3* read_db) : write_db_(write_db), read_db_(read_db) {}
  absl::StatusOr<std::vector<v1::JobEvent>> WriteLocked(const JobWrite& write);

  std::mutex write_mu_;
  sqlite3* write_db_;  // guarded by write_mu_
  std::mutex read_mu_;
  sqlite3* read_db_;  // guarded by read_mu_
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_STORE_H_
