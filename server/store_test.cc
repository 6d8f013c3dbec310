#include "server/store.h"

#include <sqlite3.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_dir.h"

namespace fornax::server {
namespace {

StoredJob MakeJob(int64_t order, v1::JobState state) {
  StoredJob job;
  job.order = order;
  job.job.set_job_id("job-" + std::to_string(order));
  job.job.set_state(state);
  job.job.mutable_spec()->set_name("mlp");
  job.job.mutable_spec()->set_priority(3);
  job.queued_ms = 1000 + order;
  return job;
}

NewEvent StateEvent(v1::JobState state, const std::string& reason) {
  NewEvent e;
  e.event.mutable_state()->set_state(state);
  e.event.mutable_state()->set_reason(reason);
  return e;
}

NewEvent WorkerLog(int32_t attempt, int64_t worker_sequence, const std::string& text) {
  NewEvent e;
  e.attempt = attempt;
  e.worker_sequence = worker_sequence;
  e.event.mutable_log()->set_text(text);
  return e;
}

TEST(Store, JobsAndEventsSurviveReopen) {
  TestDir dir;
  const std::string path = dir.Join("state.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    StoredJob queued = MakeJob(1, v1::JOB_STATE_QUEUED);
    ASSERT_TRUE((*store)->Write({&queued, {StateEvent(v1::JOB_STATE_QUEUED, "submitted")}}).ok());
    StoredJob running = MakeJob(2, v1::JOB_STATE_RUNNING);
    running.job.set_worker_id("w-1");
    running.job.set_attempt(1);
    running.failures = 1;
    auto stored = (*store)->Write(
        {&running, {StateEvent(v1::JOB_STATE_RUNNING, "assigned to w-1"), WorkerLog(1, 1, "hi")}});
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_EQ(stored->size(), 2u);
    EXPECT_EQ((*stored)[0].sequence(), 1);
    EXPECT_EQ((*stored)[1].sequence(), 2);
    EXPECT_EQ((*stored)[1].job_id(), "job-2");
    EXPECT_EQ(running.job.last_sequence(), 2);
  }
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].job.job_id(), "job-1");
  EXPECT_EQ((*jobs)[0].job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ((*jobs)[0].queued_ms, 1001);
  EXPECT_EQ((*jobs)[1].job.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ((*jobs)[1].job.worker_id(), "w-1");
  EXPECT_EQ((*jobs)[1].job.attempt(), 1);
  EXPECT_EQ((*jobs)[1].failures, 1);
  EXPECT_EQ((*jobs)[1].job.last_sequence(), 2);
  EXPECT_EQ(*(*store)->MaxJobOrder(), 2);
  auto events = (*store)->ReadEvents("job-2", 1, 100);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].log().text(), "hi");
}

TEST(Store, WorkerEventsAreStoredOncePerAttempt) {
  TestDir dir;
  auto store = Store::Open(dir.Join("state.db"));
  ASSERT_TRUE(store.ok());
  StoredJob job = MakeJob(1, v1::JOB_STATE_RUNNING);
  ASSERT_TRUE((*store)->Write({&job, {WorkerLog(0, 1, "a"), WorkerLog(0, 2, "b")}}).ok());
  // A resend after a reconnect: 1 and 2 again, then 3.
  auto stored =
      (*store)->Write({&job, {WorkerLog(0, 1, "a"), WorkerLog(0, 2, "b"), WorkerLog(0, 3, "c")}});
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].sequence(), 3);
  // The next attempt numbers from 1 again: stored.
  stored = (*store)->Write({&job, {WorkerLog(1, 1, "a2")}});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->size(), 1u);
  EXPECT_EQ(*(*store)->MaxWorkerSequence("job-1", 0), 3);
  auto events = (*store)->ReadEvents("job-1", 0, 100);
  ASSERT_TRUE(events.ok());
  std::vector<std::string> texts;
  for (const auto& e : *events) texts.push_back(e.log().text());
  EXPECT_THAT(texts, ::testing::ElementsAre("a", "b", "c", "a2"));
  EXPECT_EQ((*events).back().sequence(), 4);
}

TEST(Store, CheckpointsGetIdsAndAnEvent) {
  TestDir dir;
  auto store = Store::Open(dir.Join("state.db"));
  ASSERT_TRUE(store.ok());
  StoredJob job = MakeJob(7, v1::JOB_STATE_RUNNING);
  for (int epoch = 1; epoch <= 2; ++epoch) {
    v1::CheckpointRecord record;
    record.set_epoch(epoch);
    record.set_sha256(std::string(64, 'a' + epoch));
    record.set_final(epoch == 2);
    auto stored = (*store)->Write({&job, {}, record, 0});
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_EQ(stored->size(), 1u);
    EXPECT_EQ((*stored)[0].checkpoint().checkpoint_id(), "job-7-c" + std::to_string(epoch));
  }
  EXPECT_EQ(job.latest_checkpoint.epoch(), 2);
  EXPECT_EQ(job.job.final_checkpoint_id(), "job-7-c2");
  auto list = (*store)->ListCheckpoints("job-7");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].epoch(), 1);
  auto one = (*store)->GetCheckpoint("job-7-c1");
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->epoch(), 1);
  EXPECT_FALSE((*(*store)->GetCheckpoint("nope")).has_value());
}

TEST(Store, DatasetsAndWorkers) {
  TestDir dir;
  auto store = Store::Open(dir.Join("state.db"));
  ASSERT_TRUE(store.ok());
  v1::Dataset dataset;
  dataset.set_sha256(std::string(64, 'f'));
  dataset.set_name("train.npz");
  dataset.set_size_bytes(42);
  dataset.mutable_create_time()->set_seconds(5);
  ASSERT_TRUE((*store)->PutDataset(dataset).ok());
  auto got = (*store)->GetDataset(dataset.sha256());
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->name(), "train.npz");
  EXPECT_EQ((*got)->size_bytes(), 42);
  EXPECT_EQ((*got)->create_time().seconds(), 5);
  EXPECT_EQ((*store)->ListDatasets()->size(), 1u);
  ASSERT_TRUE((*store)->DeleteDataset(dataset.sha256()).ok());
  EXPECT_FALSE((*(*store)->GetDataset(dataset.sha256())).has_value());

  v1::WorkerInfo worker;
  worker.set_worker_id("w-1");
  worker.mutable_capacity()->set_cpus(4);
  ASSERT_TRUE((*store)->PutWorker(worker).ok());
  auto workers = (*store)->LoadWorkers();
  ASSERT_TRUE(workers.ok());
  ASSERT_EQ(workers->size(), 1u);
  EXPECT_EQ((*workers)[0].capacity().cpus(), 4);
}

v1::JobFile File(const std::string& path, int32_t attempt, char sha) {
  v1::JobFile file;
  file.set_path(path);
  file.set_attempt(attempt);
  file.set_sha256(std::string(64, sha));
  file.set_size_bytes(10 + attempt);
  file.mutable_create_time()->set_seconds(100 + attempt);
  return file;
}

// A later attempt's file replaces the earlier one of the same path (an
// earlier one never replaces a later one); files are no checkpoints.
TEST(Store, JobFilesAreReplacedByPathAndAreNoCheckpoints) {
  TestDir dir;
  auto store = Store::Open(dir.Join("state.db"));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->PutJobFile("job-1", File("log.csv", 0, 'a')).ok());
  ASSERT_TRUE((*store)->PutJobFile("job-1", File("ckpt/m.keras", 0, 'b')).ok());
  ASSERT_TRUE((*store)->PutJobFile("job-1", File("log.csv", 1, 'c')).ok());
  ASSERT_TRUE((*store)->PutJobFile("job-1", File("ckpt/m.keras", 0, 'd')).ok());
  ASSERT_TRUE((*store)->PutJobFile("job-2", File("log.csv", 0, 'e')).ok());
  ASSERT_TRUE((*store)->PutJobFile("job-1", File("log.csv", 0, 'f')).ok());  // older: ignored
  auto files = (*store)->ListJobFiles("job-1");
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].path(), "ckpt/m.keras");
  EXPECT_EQ((*files)[0].sha256(), std::string(64, 'd'));
  EXPECT_EQ((*files)[1].path(), "log.csv");
  EXPECT_EQ((*files)[1].attempt(), 1);
  EXPECT_EQ((*files)[1].sha256(), std::string(64, 'c'));
  EXPECT_EQ((*files)[1].size_bytes(), 11);
  EXPECT_EQ((*files)[1].create_time().seconds(), 101);
  EXPECT_EQ((*store)->ListJobFiles("job-2")->size(), 1u);
  EXPECT_TRUE((*store)->ListJobFiles("job-3")->empty());
  EXPECT_TRUE((*store)->ListCheckpoints("job-1")->empty());
}

// A database written before job_files existed (schema version 1 without the
// table) opens with its jobs and checkpoints, and gains the table.
TEST(Store, ADatabaseFromBeforeJobFilesOpens) {
  TestDir dir;
  const std::string path = dir.Join("state.db");
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    StoredJob job = MakeJob(1, v1::JOB_STATE_SUCCEEDED);
    v1::CheckpointRecord record;
    record.set_final(true);
    ASSERT_TRUE((*store)->Write({&job, {}, record, 0}).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE job_files", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].job.final_checkpoint_id(), "job-1-c1");
  EXPECT_TRUE((*store)->ListJobFiles("job-1")->empty());
  ASSERT_TRUE((*store)->PutJobFile("job-1", File("log.csv", 0, 'a')).ok());
  EXPECT_EQ((*store)->ListJobFiles("job-1")->size(), 1u);
}

// Datasets, checkpoints and job files share the artifact store's bytes; any
// one of them naming a sha256 keeps it in use.
TEST(Store, ArtifactsAreInUseWhileAnyRecordNamesThem) {
  TestDir dir;
  auto store = Store::Open(dir.Join("state.db"));
  ASSERT_TRUE(store.ok());
  const std::string dataset(64, 'a'), checkpoint(64, 'b'), file(64, 'c'), none(64, 'd');
  v1::Dataset row;
  row.set_sha256(dataset);
  ASSERT_TRUE((*store)->PutDataset(row).ok());
  StoredJob job = MakeJob(1, v1::JOB_STATE_RUNNING);
  v1::CheckpointRecord record;
  record.set_sha256(checkpoint);
  ASSERT_TRUE((*store)->Write({&job, {}, record, 0}).ok());
  ASSERT_TRUE((*store)->PutJobFile("job-1", File("log.csv", 0, 'c')).ok());
  for (const std::string& sha256 : {dataset, checkpoint, file}) {
    EXPECT_TRUE(*(*store)->IsArtifactInUse(sha256)) << sha256;
  }
  EXPECT_FALSE(*(*store)->IsArtifactInUse(none));
  ASSERT_TRUE((*store)->DeleteDataset(dataset).ok());
  EXPECT_FALSE(*(*store)->IsArtifactInUse(dataset));
}

// A database from before checkpoints had their own sha256 column opens; the
// column is filled from the stored records, so their bytes stay in use.
TEST(Store, ADatabaseFromBeforeCheckpointSha256Opens) {
  TestDir dir;
  const std::string path = dir.Join("state.db");
  const std::string sha256(64, 'b');
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
    StoredJob job = MakeJob(1, v1::JOB_STATE_SUCCEEDED);
    v1::CheckpointRecord record;
    record.set_sha256(sha256);
    record.set_final(true);
    ASSERT_TRUE((*store)->Write({&job, {}, record, 0}).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP INDEX checkpoints_by_sha256; "
                         "ALTER TABLE checkpoints DROP COLUMN sha256",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  for (int open = 0; open < 2; ++open) {  // the second open finds the column
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    auto checkpoint = (*store)->GetCheckpoint("job-1-c1");
    ASSERT_TRUE(checkpoint.ok() && checkpoint->has_value());
    EXPECT_EQ((*checkpoint)->sha256(), sha256);
    auto in_use = (*store)->IsArtifactInUse(sha256);
    ASSERT_TRUE(in_use.ok()) << in_use.status();
    EXPECT_TRUE(*in_use);
    EXPECT_FALSE(*(*store)->IsArtifactInUse(std::string(64, 'c')));
  }
}

TEST(Store, RefusesANewerSchema) {
  TestDir dir;
  const std::string path = dir.Join("state.db");
  ASSERT_TRUE(Store::Open(path).ok());
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store.ok());
  }
  // Simulate a database written by a future coordinator.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = Store::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), ::testing::HasSubstr("schema version 99"));
}

}  // namespace
}  // namespace fornax::server
