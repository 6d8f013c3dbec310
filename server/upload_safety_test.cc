// What the coordinator stores from uploads stays sound, over real gRPC:
// a delete racing uploads of the same bytes strands no record, and a job's
// files (their number) and its checkpoints (their size) are capped.
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/upload_test_util.h"

namespace fornax::server {
namespace {

constexpr int kRounds = 150;

// The sha256 of every record: datasets, the job's checkpoints and files.
std::vector<std::string> RecordedDigests(TestCluster& cluster, const std::string& job_id) {
  std::vector<std::string> digests;
  Store& store = cluster.server().coordinator().store();
  absl::StatusOr<std::vector<v1::Dataset>> datasets = store.ListDatasets();
  EXPECT_TRUE(datasets.ok()) << datasets.status();
  for (const v1::Dataset& d : datasets.value_or(std::vector<v1::Dataset>{})) {
    digests.push_back(d.sha256());
  }
  absl::StatusOr<std::vector<v1::CheckpointRecord>> checkpoints = store.ListCheckpoints(job_id);
  EXPECT_TRUE(checkpoints.ok()) << checkpoints.status();
  for (const v1::CheckpointRecord& c : checkpoints.value_or(std::vector<v1::CheckpointRecord>{})) {
    digests.push_back(c.sha256());
  }
  absl::StatusOr<std::vector<v1::JobFile>> files = store.ListJobFiles(job_id);
  EXPECT_TRUE(files.ok()) << files.status();
  for (const v1::JobFile& f : files.value_or(std::vector<v1::JobFile>{})) {
    digests.push_back(f.sha256());
  }
  return digests;
}

// Equal bytes are stored once for every dataset, checkpoint and job file
// naming them. Deleting a dataset while an upload of the same bytes is
// between storing them and recording them must not leave a record naming
// bytes that are gone: each round uploads a dataset, then at once deletes it
// and uploads its bytes again as a checkpoint, a job file and the dataset
// itself; afterwards every record's bytes must be there and hash to its
// sha256. (Without the per-sha256 lock, 12 to 26 rounds of 150 stranded.)
TEST(UploadSafety, DeletingADatasetNeverStrandsARecordOfItsBytes) {
  TestCluster cluster(LongLeaseOptions());
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));

  // The window to hit is short (between an upload storing the bytes and
  // recording them) and sits near the upload's end, so the delete starts
  // after a delay that sweeps the span of the last round's checkpoint upload.
  using Clock = std::chrono::steady_clock;
  Clock::duration upload_time = std::chrono::milliseconds(2);
  int stranded_rounds = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string bytes = absl::StrCat("round ", round, " bytes");
    const std::string sha256 = Sha256Hex(bytes);
    ASSERT_TRUE(UploadDataset(cluster, bytes).ok());
    const Clock::duration delay = upload_time * (round % 32) / 32;
    std::atomic<int> ready{0};
    auto start_together = [&ready] {
      ready.fetch_add(1);
      while (ready.load() < 4) std::this_thread::yield();
    };
    // A call may fail only by losing a race a client can retry: the delete
    // after another one (NOT_FOUND); never by losing bytes.
    std::vector<std::thread> threads;
    threads.emplace_back([&] {
      start_together();
      std::this_thread::sleep_for(delay);
      grpc::Status s = DeleteDataset(cluster, sha256);
      EXPECT_TRUE(s.ok() || s.error_code() == grpc::StatusCode::NOT_FOUND) << s.error_message();
    });
    threads.emplace_back([&] {
      start_together();
      const Clock::time_point start = Clock::now();
      grpc::Status s = UploadCheckpoint(cluster, worker.session(), job.job_id(), round, bytes);
      EXPECT_TRUE(s.ok()) << s.error_message();
      upload_time = Clock::now() - start;
    });
    threads.emplace_back([&] {
      start_together();
      grpc::Status s = UploadJobFile(cluster, worker.session(), job.job_id(),
                                     absl::StrCat(round, ".bin"), bytes);
      EXPECT_TRUE(s.ok()) << s.error_message();
    });
    threads.emplace_back([&] {
      start_together();
      grpc::Status s = UploadDataset(cluster, bytes);
      EXPECT_TRUE(s.ok()) << s.error_message();
    });
    for (std::thread& t : threads) t.join();
    if (!StoredAndIntact(cluster, sha256)) ++stranded_rounds;
  }
  std::cout << "rounds: " << kRounds
            << ", rounds whose records lost their bytes: " << stranded_rounds << "\n";
  EXPECT_EQ(stranded_rounds, 0);
  for (const std::string& sha256 : RecordedDigests(cluster, job.job_id())) {
    EXPECT_TRUE(StoredAndIntact(cluster, sha256)) << sha256;
  }
}

// An upload of a dataset already stored answers at once (already_stored);
// racing a delete of it, the two are ordered: either the delete came first
// and the upload stored the dataset again (already_stored false, the dataset
// there afterwards), or the upload came first and found it (already_stored
// true, the dataset gone afterwards). Never both reported and gone before,
// nor a record left without its bytes.
TEST(UploadSafety, UploadingADatasetBeingDeletedIsOrderedWithTheDelete) {
  TestCluster cluster;
  Store& store = cluster.server().coordinator().store();
  // The shortcut's check sits at the upload's start, so the delete starts
  // after a delay that sweeps the span of the last round's upload.
  using Clock = std::chrono::steady_clock;
  Clock::duration upload_time = std::chrono::milliseconds(1);
  int found_then_deleted = 0;
  int stored_again = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string bytes = absl::StrCat("dataset ", round);
    const std::string sha256 = Sha256Hex(bytes);
    ASSERT_TRUE(UploadDataset(cluster, bytes).ok());
    const Clock::duration delay = upload_time * (round % 16) / 16;
    std::atomic<int> ready{0};
    auto start_together = [&ready] {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
    };
    v1::Dataset reply;
    std::thread deleter([&] {
      start_together();
      std::this_thread::sleep_for(delay);
      grpc::Status s = DeleteDataset(cluster, sha256);
      EXPECT_TRUE(s.ok()) << s.error_message();  // the dataset is there before and after
    });
    std::thread uploader([&] {
      start_together();
      const Clock::time_point start = Clock::now();
      grpc::Status s = UploadDataset(cluster, bytes, &reply);
      EXPECT_TRUE(s.ok()) << s.error_message();
      upload_time = Clock::now() - start;
    });
    deleter.join();
    uploader.join();
    absl::StatusOr<std::optional<v1::Dataset>> record = store.GetDataset(sha256);
    ASSERT_TRUE(record.ok()) << record.status();
    const bool there = record->has_value();
    EXPECT_NE(reply.already_stored(), there) << "round " << round;
    EXPECT_TRUE(!there || StoredAndIntact(cluster, sha256)) << "round " << round;
    ++(reply.already_stored() ? found_then_deleted : stored_again);
  }
  std::cout << "rounds: " << kRounds << ", upload first: " << found_then_deleted
            << ", delete first: " << stored_again << "\n";
}

// Over the coordinator's --max-job-files a new path is refused before its
// bytes are stored; replacing a file of the job's is no new one.
TEST(UploadSafety, JobFilesOverTheCoordinatorsCountAreRefused) {
  ServerOptions options = LongLeaseOptions();
  options.coordinator.max_job_files = 2;
  TestCluster cluster(options);
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));
  ASSERT_TRUE(UploadJobFile(cluster, worker.session(), job.job_id(), "a.csv", "a").ok());
  ASSERT_TRUE(UploadJobFile(cluster, worker.session(), job.job_id(), "b.csv", "b").ok());
  grpc::Status status = UploadJobFile(cluster, worker.session(), job.job_id(), "c.csv", "c");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("path: job ", job.job_id(),
                         " would have 3 files, more than the coordinator's --max-job-files 2"));
  EXPECT_FALSE(cluster.server().coordinator().artifacts().Contains(Sha256Hex("c")));
  status = UploadJobFile(cluster, worker.session(), job.job_id(), "a.csv", "a2");
  EXPECT_TRUE(status.ok()) << status.error_message();
  absl::StatusOr<std::vector<v1::JobFile>> files =
      cluster.server().coordinator().store().ListJobFiles(job.job_id());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].sha256(), Sha256Hex("a2"));
}

// Uploads that each pass the check at their start, side by side, are held
// to the cap when recorded: no more files than --max-job-files are kept.
TEST(UploadSafety, ConcurrentJobFilesStayWithinTheCount) {
  ServerOptions options = LongLeaseOptions();
  options.coordinator.max_job_files = 3;
  TestCluster cluster(options);
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));
  constexpr int kUploads = 16;
  std::atomic<int> accepted{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kUploads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kUploads) std::this_thread::yield();
      grpc::Status s = UploadJobFile(cluster, worker.session(), job.job_id(),
                                     absl::StrCat(i, ".csv"), absl::StrCat("file ", i));
      if (s.ok()) {
        accepted.fetch_add(1);
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
        EXPECT_THAT(s.error_message(), ::testing::HasSubstr("--max-job-files 3"));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::StatusOr<std::vector<v1::JobFile>> files =
      cluster.server().coordinator().store().ListJobFiles(job.job_id());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->size(), 3u);
  EXPECT_EQ(accepted.load(), 3);
}

// A checkpoint declared over --max-checkpoint-bytes is refused before a byte
// is stored: no record, no stored bytes, no temp file left.
TEST(UploadSafety, CheckpointsOverTheCoordinatorsCapAreRefused) {
  ServerOptions options = LongLeaseOptions();
  options.coordinator.max_checkpoint_bytes = 10;
  TestCluster cluster(options);
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));
  const std::string big = "eleven byte";
  grpc::Status status = UploadCheckpoint(cluster, worker.session(), job.job_id(), 1, big);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("size_bytes: job ", job.job_id(),
                         "'s checkpoint is 11 bytes, more than the coordinator's "
                         "--max-checkpoint-bytes 10"));
  Coordinator& coordinator = cluster.server().coordinator();
  EXPECT_FALSE(coordinator.artifacts().Contains(Sha256Hex(big)));
  const std::string temp_dir = coordinator.options().data_dir + "/artifacts/tmp";
  EXPECT_TRUE(std::filesystem::is_empty(temp_dir));
  absl::StatusOr<std::vector<v1::CheckpointRecord>> records =
      coordinator.store().ListCheckpoints(job.job_id());
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->empty());

  status = UploadCheckpoint(cluster, worker.session(), job.job_id(), 1, "ten bytes!");
  EXPECT_TRUE(status.ok()) << status.error_message();
  records = coordinator.store().ListCheckpoints(job.job_id());
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(records->size(), 1u);
}

}  // namespace
}  // namespace fornax::server
