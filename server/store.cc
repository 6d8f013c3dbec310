#include "server/store.h"

#include <sqlite3.h>

#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "server/clock.h"

namespace fornax::server {
namespace {

constexpr int kSchemaVersion = 1;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  job_id TEXT PRIMARY KEY,
  ord INTEGER NOT NULL UNIQUE,
  state INTEGER NOT NULL,
  failures INTEGER NOT NULL,
  not_before_ms INTEGER NOT NULL,
  queued_ms INTEGER NOT NULL,
  job BLOB NOT NULL,
  latest_checkpoint BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS job_events(
  job_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  worker_sequence INTEGER NOT NULL,
  event BLOB NOT NULL,
  PRIMARY KEY(job_id, sequence)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS job_events_by_worker
  ON job_events(job_id, attempt, worker_sequence) WHERE worker_sequence > 0;
CREATE TABLE IF NOT EXISTS datasets(
  sha256 TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  create_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints(
  checkpoint_id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  record BLOB NOT NULL,
  sha256 TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS checkpoints_by_job ON checkpoints(job_id, n);
CREATE TABLE IF NOT EXISTS workers(
  worker_id TEXT PRIMARY KEY,
  info BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS deployments(
  name TEXT PRIMARY KEY,
  deployment BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS job_files(
  job_id TEXT NOT NULL,
  path TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  create_ms INTEGER NOT NULL,
  PRIMARY KEY(job_id, path)) WITHOUT ROWID;
)sql";

absl::Status SqlError(sqlite3* db, const std::string& what) {
  return absl::InternalError(absl::StrCat("sqlite: ", what, ": ", sqlite3_errmsg(db)));
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return absl::InternalError(absl::StrCat("sqlite: ", sql, ": ", message));
  }
  return absl::OkStatus();
}

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    status_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) == SQLITE_OK ? absl::OkStatus()
                                                                            : SqlError(db, sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  const absl::Status& status() const { return status_; }
  Statement& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Next row: true when there is one, false when done.
  absl::StatusOr<bool> Step() {
    FORNAX_RETURN_IF_ERROR(status_);
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqlError(db_, sqlite3_sql(stmt_));
  }
  absl::Status Run() { return Step().status(); }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status status_;
};

template <typename Proto>
absl::StatusOr<Proto> ParseBlob(const std::string& blob, const char* what) {
  Proto proto;
  if (!proto.ParseFromString(blob)) {
    return absl::DataLossError(absl::StrCat("sqlite: corrupt ", what, " record"));
  }
  return proto;
}

absl::StatusOr<sqlite3*> OpenConnection(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("sqlite: cannot open ", path, ": ", message));
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

// Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (began_ && !done_) Exec(db_, "ROLLBACK").IgnoreError();
  }
  absl::Status Begin() {
    FORNAX_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
    began_ = true;
    return absl::OkStatus();
  }
  absl::Status Commit() {
    FORNAX_RETURN_IF_ERROR(Exec(db_, "COMMIT"));
    done_ = true;
    return absl::OkStatus();
  }

 private:
  sqlite3* db_;
  bool began_ = false;
  bool done_ = false;
};

// checkpoints.sha256 came after schema version 1 was in use: a database from
// before it gets the column, filled from each row's record, and its index.
absl::Status AddCheckpointSha256(sqlite3* db) {
  bool has_column = false;
  {
    Statement columns(db, "SELECT 1 FROM pragma_table_info('checkpoints') WHERE name = 'sha256'");
    FORNAX_ASSIGN_OR_RETURN(has_column, columns.Step());
  }
  if (!has_column) {
    FORNAX_RETURN_IF_ERROR(
        Exec(db, "ALTER TABLE checkpoints ADD COLUMN sha256 TEXT NOT NULL DEFAULT ''"));
    Statement select(db, "SELECT checkpoint_id, record FROM checkpoints");
    while (true) {
      FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      FORNAX_ASSIGN_OR_RETURN(v1::CheckpointRecord record,
                              ParseBlob<v1::CheckpointRecord>(select.Text(1), "checkpoint"));
      Statement update(db, "UPDATE checkpoints SET sha256 = ? WHERE checkpoint_id = ?");
      update.Bind(1, record.sha256()).Bind(2, select.Text(0));
      FORNAX_RETURN_IF_ERROR(update.Run());
    }
  }
  return Exec(db, "CREATE INDEX IF NOT EXISTS checkpoints_by_sha256 ON checkpoints(sha256)");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  FORNAX_ASSIGN_OR_RETURN(sqlite3 * write_db, OpenConnection(path));
  std::unique_ptr<Store> store(new Store(write_db, nullptr));
  // WAL: readers never block the writer; synchronous=NORMAL survives a
  // process crash (what kill -9 does), the case the coordinator promises.
  FORNAX_RETURN_IF_ERROR(Exec(write_db, "PRAGMA journal_mode=WAL"));
  FORNAX_RETURN_IF_ERROR(Exec(write_db, "PRAGMA synchronous=NORMAL"));
  {
    Statement version(write_db, "PRAGMA user_version");
    FORNAX_ASSIGN_OR_RETURN(bool row, version.Step());
    int64_t found = row ? version.Int(0) : 0;
    if (found > kSchemaVersion) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": schema version ", found,
                                                        " is newer than this coordinator's (",
                                                        kSchemaVersion, ")"));
    }
  }
  Transaction txn(write_db);
  FORNAX_RETURN_IF_ERROR(txn.Begin());
  FORNAX_RETURN_IF_ERROR(Exec(write_db, kSchema));
  FORNAX_RETURN_IF_ERROR(AddCheckpointSha256(write_db));
  FORNAX_RETURN_IF_ERROR(
      Exec(write_db, absl::StrCat("PRAGMA user_version=", kSchemaVersion).c_str()));
  FORNAX_RETURN_IF_ERROR(txn.Commit());
  FORNAX_ASSIGN_OR_RETURN(store->read_db_, OpenConnection(path));
  return store;
}

Store::~Store() {
  sqlite3_close(read_db_);
  sqlite3_close(write_db_);
}

absl::StatusOr<std::vector<v1::JobEvent>> Store::Write(const JobWrite& write) {
  std::lock_guard<std::mutex> lock(write_mu_);
  StoredJob before = *write.job;
  absl::StatusOr<std::vector<v1::JobEvent>> stored = WriteLocked(write);
  if (!stored.ok()) *write.job = std::move(before);
  return stored;
}

absl::StatusOr<std::vector<v1::JobEvent>> Store::WriteLocked(const JobWrite& write) {
  StoredJob& job = *write.job;
  const std::string& job_id = job.job.job_id();
  Transaction txn(write_db_);
  FORNAX_RETURN_IF_ERROR(txn.Begin());
  std::vector<v1::JobEvent> stored;
  auto append = [&](v1::JobEvent event, int32_t attempt, int64_t worker_sequence) -> absl::Status {
    event.set_job_id(job_id);
    event.set_sequence(job.job.last_sequence() + 1);
    Statement insert(write_db_,
                     "INSERT INTO job_events(job_id, sequence, attempt, worker_sequence, event) "
                     "VALUES(?, ?, ?, ?, ?)");
    insert.Bind(1, job_id).Bind(2, event.sequence()).Bind(3, attempt).Bind(4, worker_sequence);
    insert.BindBlob(5, event.SerializeAsString());
    FORNAX_RETURN_IF_ERROR(insert.Run());
    job.job.set_last_sequence(event.sequence());
    stored.push_back(std::move(event));
    return absl::OkStatus();
  };

  if (write.checkpoint) {
    v1::CheckpointRecord record = *write.checkpoint;
    Statement count(write_db_, "SELECT COALESCE(MAX(n), 0) + 1 FROM checkpoints WHERE job_id = ?");
    count.Bind(1, job_id);
    FORNAX_RETURN_IF_ERROR(count.Step().status());
    const int64_t n = count.Int(0);
    record.set_checkpoint_id(absl::StrCat(job_id, "-c", n));
    Statement insert(write_db_,
                     "INSERT INTO checkpoints(checkpoint_id, job_id, n, attempt, record, sha256) "
                     "VALUES(?, ?, ?, ?, ?, ?)");
    insert.Bind(1, record.checkpoint_id()).Bind(2, job_id).Bind(3, n);
    insert.Bind(4, write.checkpoint_attempt).BindBlob(5, record.SerializeAsString());
    insert.Bind(6, record.sha256());
    FORNAX_RETURN_IF_ERROR(insert.Run());
    job.latest_checkpoint = record;
    if (record.final()) job.job.set_final_checkpoint_id(record.checkpoint_id());
    v1::JobEvent event;
    *event.mutable_time() = NowTimestamp();
    *event.mutable_checkpoint() = record;
    FORNAX_RETURN_IF_ERROR(append(std::move(event), write.checkpoint_attempt, 0));
  }
  for (const NewEvent& e : write.events) {
    if (e.worker_sequence > 0) {
      Statement seen(write_db_,
                     "SELECT 1 FROM job_events WHERE job_id = ? AND attempt = ? AND "
                     "worker_sequence = ?");
      seen.Bind(1, job_id).Bind(2, e.attempt).Bind(3, e.worker_sequence);
      FORNAX_ASSIGN_OR_RETURN(bool duplicate, seen.Step());
      if (duplicate) continue;
    }
    FORNAX_RETURN_IF_ERROR(append(e.event, e.attempt, e.worker_sequence));
  }

  Statement upsert(write_db_,
                   "INSERT OR REPLACE INTO jobs(job_id, ord, state, failures, not_before_ms, "
                   "queued_ms, job, latest_checkpoint) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  upsert.Bind(1, job_id).Bind(2, job.order).Bind(3, job.job.state()).Bind(4, job.failures);
  upsert.Bind(5, job.not_before_ms).Bind(6, job.queued_ms);
  upsert.BindBlob(7, job.job.SerializeAsString());
  upsert.BindBlob(8, job.latest_checkpoint.SerializeAsString());
  FORNAX_RETURN_IF_ERROR(upsert.Run());
  FORNAX_RETURN_IF_ERROR(txn.Commit());
  return stored;
}

absl::StatusOr<std::vector<StoredJob>> Store::LoadJobs() {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT ord, failures, not_before_ms, queued_ms, job, latest_checkpoint "
                   "FROM jobs ORDER BY ord");
  std::vector<StoredJob> jobs;
  while (true) {
    FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    StoredJob job;
    job.order = select.Int(0);
    job.failures = static_cast<int32_t>(select.Int(1));
    job.not_before_ms = select.Int(2);
    job.queued_ms = select.Int(3);
    FORNAX_ASSIGN_OR_RETURN(job.job, ParseBlob<v1::Job>(select.Text(4), "job"));
    FORNAX_ASSIGN_OR_RETURN(job.latest_checkpoint,
                            ParseBlob<v1::CheckpointRecord>(select.Text(5), "checkpoint"));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::StatusOr<int64_t> Store::MaxJobOrder() {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_, "SELECT COALESCE(MAX(ord), 0) FROM jobs");
  FORNAX_RETURN_IF_ERROR(select.Step().status());
  return select.Int(0);
}

absl::StatusOr<std::vector<v1::JobEvent>> Store::ReadEvents(const std::string& job_id,
                                                            int64_t after_sequence, int limit) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT event FROM job_events WHERE job_id = ? AND sequence > ? "
                   "ORDER BY sequence LIMIT ?");
  select.Bind(1, job_id).Bind(2, after_sequence).Bind(3, limit);
  std::vector<v1::JobEvent> events;
  while (true) {
    FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    FORNAX_ASSIGN_OR_RETURN(v1::JobEvent event, ParseBlob<v1::JobEvent>(select.Text(0), "event"));
    events.push_back(std::move(event));
  }
  return events;
}

absl::StatusOr<int64_t> Store::MaxWorkerSequence(const std::string& job_id, int32_t attempt) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT COALESCE(MAX(worker_sequence), 0) FROM job_events "
                   "WHERE job_id = ? AND attempt = ?");
  select.Bind(1, job_id).Bind(2, attempt);
  FORNAX_RETURN_IF_ERROR(select.Step().status());
  return select.Int(0);
}

absl::StatusOr<std::vector<v1::CheckpointRecord>> Store::ListCheckpoints(
    const std::string& job_id) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_, "SELECT record FROM checkpoints WHERE job_id = ? ORDER BY n");
  select.Bind(1, job_id);
  std::vector<v1::CheckpointRecord> records;
  while (true) {
    FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    FORNAX_ASSIGN_OR_RETURN(v1::CheckpointRecord record,
                            ParseBlob<v1::CheckpointRecord>(select.Text(0), "checkpoint"));
    records.push_back(std::move(record));
  }
  return records;
}

absl::StatusOr<std::optional<v1::CheckpointRecord>> Store::GetCheckpoint(
    const std::string& checkpoint_id) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_, "SELECT record FROM checkpoints WHERE checkpoint_id = ?");
  select.Bind(1, checkpoint_id);
  FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return std::nullopt;
  return ParseBlob<v1::CheckpointRecord>(select.Text(0), "checkpoint");
}

absl::Status Store::PutJobFile(const std::string& job_id, const v1::JobFile& file) {
  std::lock_guard<std::mutex> lock(write_mu_);
  // An older attempt's file never replaces a newer one's (the coordinator
  // only takes uploads of the current attempt; this keeps the rule local).
  Statement upsert(write_db_,
                   "INSERT INTO job_files(job_id, path, attempt, sha256, size_bytes, create_ms) "
                   "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(job_id, path) DO UPDATE SET "
                   "attempt = excluded.attempt, sha256 = excluded.sha256, "
                   "size_bytes = excluded.size_bytes, create_ms = excluded.create_ms "
                   "WHERE excluded.attempt >= job_files.attempt");
  upsert.Bind(1, job_id).Bind(2, file.path()).Bind(3, file.attempt()).Bind(4, file.sha256());
  upsert.Bind(5, file.size_bytes());
  upsert.Bind(6, file.create_time().seconds() * 1000 + file.create_time().nanos() / 1000000);
  return upsert.Run();
}

absl::StatusOr<std::vector<v1::JobFile>> Store::ListJobFiles(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT path, attempt, sha256, size_bytes, create_ms FROM job_files "
                   "WHERE job_id = ? ORDER BY path");
  select.Bind(1, job_id);
  std::vector<v1::JobFile> files;
  while (true) {
    FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    v1::JobFile& file = files.emplace_back();
    file.set_path(select.Text(0));
    file.set_attempt(static_cast<int32_t>(select.Int(1)));
    file.set_sha256(select.Text(2));
    file.set_size_bytes(select.Int(3));
    const int64_t ms = select.Int(4);
    file.mutable_create_time()->set_seconds(ms / 1000);
    file.mutable_create_time()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
  }
  return files;
}

absl::StatusOr<JobFilesUsage> Store::SumJobFiles(const std::string& job_id,
                                                 const std::string& except_path) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM job_files "
                   "WHERE job_id = ? AND path != ?");
  select.Bind(1, job_id).Bind(2, except_path);
  FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return absl::InternalError("job_files: the count returned no row");
  return JobFilesUsage{select.Int(0), select.Int(1)};
}

absl::StatusOr<bool> Store::IsArtifactInUse(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT 1 WHERE EXISTS(SELECT 1 FROM datasets WHERE sha256 = ?1) "
                   "OR EXISTS(SELECT 1 FROM checkpoints WHERE sha256 = ?1) "
                   "OR EXISTS(SELECT 1 FROM job_files WHERE sha256 = ?1)");
  select.Bind(1, sha256);
  return select.Step();
}

absl::StatusOr<std::unordered_set<std::string>> Store::ReferencedArtifacts() {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT sha256 FROM datasets UNION SELECT sha256 FROM checkpoints "
                   "UNION SELECT sha256 FROM job_files");
  std::unordered_set<std::string> digests;
  while (true) {
    FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    digests.insert(select.Text(0));
  }
  return digests;
}

absl::Status Store::PutDataset(const v1::Dataset& dataset) {
  std::lock_guard<std::mutex> lock(write_mu_);
  Statement insert(write_db_,
                   "INSERT OR IGNORE INTO datasets(sha256, name, size_bytes, create_ms) "
                   "VALUES(?, ?, ?, ?)");
  insert.Bind(1, dataset.sha256()).Bind(2, dataset.name()).Bind(3, dataset.size_bytes());
  insert.Bind(4, dataset.create_time().seconds() * 1000 + dataset.create_time().nanos() / 1000000);
  return insert.Run();
}

namespace {
v1::Dataset DatasetFromRow(Statement& row) {
  v1::Dataset dataset;
  dataset.set_sha256(row.Text(0));
  dataset.set_name(row.Text(1));
  dataset.set_size_bytes(row.Int(2));
  const int64_t ms = row.Int(3);
  dataset.mutable_create_time()->set_seconds(ms / 1000);
  dataset.mutable_create_time()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
  return dataset;
}
}  // namespace

absl::StatusOr<std::optional<v1::Dataset>> Store::GetDataset(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT sha256, name, size_bytes, create_ms FROM datasets WHERE sha256 = ?");
  select.Bind(1, sha256);
  FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return std::nullopt;
  return DatasetFromRow(select);
}

absl::StatusOr<std::vector<v1::Dataset>> Store::ListDatasets() {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_,
                   "SELECT sha256, name, size_bytes, create_ms FROM datasets ORDER BY create_ms");
  std::vector<v1::Dataset> datasets;
  while (true) {
    FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    datasets.push_back(DatasetFromRow(select));
  }
  return datasets;
}

absl::Status Store::DeleteDataset(const std::string& sha256) {
  std::lock_guard<std::mutex> lock(write_mu_);
  Statement remove(write_db_, "DELETE FROM datasets WHERE sha256 = ?");
  remove.Bind(1, sha256);
  return remove.Run();
}

absl::Status Store::PutWorker(const v1::WorkerInfo& worker) {
  std::lock_guard<std::mutex> lock(write_mu_);
  Statement upsert(write_db_, "INSERT OR REPLACE INTO workers(worker_id, info) VALUES(?, ?)");
  upsert.Bind(1, worker.worker_id()).BindBlob(2, worker.SerializeAsString());
  return upsert.Run();
}

absl::StatusOr<std::vector<v1::WorkerInfo>> Store::LoadWorkers() {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_, "SELECT info FROM workers ORDER BY worker_id");
  std::vector<v1::WorkerInfo> workers;
  while (true) {
    FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    FORNAX_ASSIGN_OR_RETURN(v1::WorkerInfo info,
                            ParseBlob<v1::WorkerInfo>(select.Text(0), "worker"));
    workers.push_back(std::move(info));
  }
  return workers;
}

absl::Status Store::PutDeployment(const v1::Deployment& deployment) {
  std::lock_guard<std::mutex> lock(write_mu_);
  Statement upsert(write_db_, "INSERT OR REPLACE INTO deployments(name, deployment) VALUES(?, ?)");
  upsert.Bind(1, deployment.name()).BindBlob(2, deployment.SerializeAsString());
  return upsert.Run();
}

absl::Status Store::DeleteDeployment(const std::string& name) {
  std::lock_guard<std::mutex> lock(write_mu_);
  Statement remove(write_db_, "DELETE FROM deployments WHERE name = ?");
  remove.Bind(1, name);
  return remove.Run();
}

absl::StatusOr<std::vector<v1::Deployment>> Store::LoadDeployments() {
  std::lock_guard<std::mutex> lock(read_mu_);
  Statement select(read_db_, "SELECT deployment FROM deployments ORDER BY name");
  std::vector<v1::Deployment> deployments;
  while (true) {
    FORNAX_ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) break;
    FORNAX_ASSIGN_OR_RETURN(v1::Deployment deployment,
                            ParseBlob<v1::Deployment>(select.Text(0), "deployment"));
    deployments.push_back(std::move(deployment));
  }
  return deployments;
}

}  // namespace fornax::server
