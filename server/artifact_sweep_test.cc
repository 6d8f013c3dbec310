// The artifact sweep removes stored bytes that no record names (an upload
// refused when recorded, a crash between storing and recording), at start
// and every --artifact-sweep-interval-s, and never bytes a record names or
// an upload is about to record.
#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "server/upload_test_util.h"

namespace fornax::server {
namespace {

constexpr int kRounds = 60;

// Stores `bytes` as an artifact that no record names, as a coordinator that
// died between renaming them into place and recording them leaves them.
std::string PlantOrphan(TestCluster& cluster, const std::string& bytes) {
  const std::string sha256 = Sha256Hex(bytes);
  const std::string path = cluster.server().coordinator().artifacts().PathFor(sha256);
  testing::WriteFile(path, bytes);
  return sha256;
}

std::string MetricsText(TestCluster& cluster) {
  return prometheus::TextSerializer().Serialize(cluster.server().metrics().registry()->Collect());
}

// Records a job's input dataset, another dataset, a checkpoint and a job
// file, each with bytes of its own; returns their sha256s.
std::vector<std::string> RecordOneOfEach(TestCluster& cluster, FakeWorker& worker) {
  v1::Job job;
  SubmitAndAssign(cluster, worker, &job);
  EXPECT_TRUE(UploadDataset(cluster, "a dataset").ok());
  EXPECT_TRUE(UploadCheckpoint(cluster, worker.session(), job.job_id(), 1, "a checkpoint").ok());
  EXPECT_TRUE(UploadJobFile(cluster, worker.session(), job.job_id(), "log.csv", "a job file").ok());
  return {job.spec().inputs(0).sha256(), Sha256Hex("a dataset"), Sha256Hex("a checkpoint"),
          Sha256Hex("a job file")};
}

TEST(ArtifactSweep, AtStartRemovesBytesNoRecordNamesAndKeepsTheRest) {
  TestCluster cluster(LongLeaseOptions());
  FakeWorker worker(&cluster.workers(), "w-1");
  const std::vector<std::string> recorded = RecordOneOfEach(cluster, worker);
  ArtifactStore& artifacts = cluster.server().coordinator().artifacts();
  const std::string orphan_a = PlantOrphan(cluster, "orphan a");
  const std::string orphan_b = PlantOrphan(cluster, "orphan bb");
  // Not an artifact's name: the sweep leaves what it does not know alone.
  const std::string stranger = artifacts.PathFor(orphan_a) + ".keep";
  testing::WriteFile(stranger, "x");
  ASSERT_TRUE(artifacts.Contains(orphan_a) && artifacts.Contains(orphan_b));

  cluster.Restart();
  ArtifactStore& restarted = cluster.server().coordinator().artifacts();
  EXPECT_FALSE(restarted.Contains(orphan_a));
  EXPECT_FALSE(restarted.Contains(orphan_b));
  EXPECT_TRUE(std::filesystem::exists(stranger));
  for (const std::string& sha256 : recorded) {
    EXPECT_TRUE(StoredAndIntact(cluster, sha256)) << sha256;
  }
  const std::string metrics = MetricsText(cluster);
  EXPECT_THAT(metrics, ::testing::HasSubstr("fornax_artifacts_swept_total 2"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("fornax_artifact_swept_bytes_total 17"));
}

TEST(ArtifactSweep, PeriodicallyRemovesBytesNoRecordNames) {
  ServerOptions options = LongLeaseOptions();
  options.coordinator.artifact_sweep_interval_ms = 50;
  TestCluster cluster(options);
  FakeWorker worker(&cluster.workers(), "w-1");
  const std::vector<std::string> recorded = RecordOneOfEach(cluster, worker);
  ArtifactStore& artifacts = cluster.server().coordinator().artifacts();
  const std::string orphan = PlantOrphan(cluster, "orphan");
  EXPECT_TRUE(WaitFor([&] { return !artifacts.Contains(orphan); }, 3000));
  for (const std::string& sha256 : recorded) {
    EXPECT_TRUE(StoredAndIntact(cluster, sha256)) << sha256;
  }
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricsText(cluster).find("fornax_artifacts_swept_total 1") != std::string::npos;
      },
      3000));
}

TEST(ArtifactSweep, IntervalZeroNeverSweeps) {
  ServerOptions options;
  options.coordinator.artifact_sweep_interval_ms = 0;
  TestCluster cluster(options);
  const std::string orphan = PlantOrphan(cluster, "orphan");
  cluster.Restart();
  EXPECT_TRUE(cluster.server().coordinator().artifacts().Contains(orphan));
}

// Uploads commit their bytes under the bytes' lock and record them before
// letting go; the sweep re-checks under that lock. Each round uploads new
// bytes as a dataset, a checkpoint and a job file while sweeps run back to
// back: every upload must keep its bytes, and the sweep, with no orphan to
// find, must remove nothing.
TEST(ArtifactSweep, NeverRemovesBytesAnUploadIsRecording) {
  ServerOptions options = LongLeaseOptions();
  options.coordinator.artifact_sweep_interval_ms = 0;  // swept here, back to back
  TestCluster cluster(options);
  Coordinator& coordinator = cluster.server().coordinator();
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));

  std::atomic<bool> stop{false};
  std::atomic<int64_t> swept_files{0};
  std::atomic<int> sweeps{0};
  std::thread sweeper([&] {
    while (!stop.load()) {
      absl::StatusOr<Coordinator::Swept> swept = coordinator.SweepArtifacts();
      EXPECT_TRUE(swept.ok()) << swept.status();
      if (swept.ok()) swept_files.fetch_add(swept->files);
      sweeps.fetch_add(1);
    }
  });
  int lost_rounds = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string dataset = absl::StrCat("round ", round, " dataset");
    const std::string checkpoint = absl::StrCat("round ", round, " checkpoint");
    const std::string file = absl::StrCat("round ", round, " file");
    std::vector<std::thread> uploads;
    uploads.emplace_back([&] { EXPECT_TRUE(UploadDataset(cluster, dataset).ok()); });
    uploads.emplace_back([&] {
      grpc::Status s = UploadCheckpoint(cluster, worker.session(), job.job_id(), round, checkpoint);
      EXPECT_TRUE(s.ok()) << s.error_message();
    });
    uploads.emplace_back([&] {
      grpc::Status s =
          UploadJobFile(cluster, worker.session(), job.job_id(), absl::StrCat(round, ".bin"), file);
      EXPECT_TRUE(s.ok()) << s.error_message();
    });
    for (std::thread& t : uploads) t.join();
    for (const std::string* bytes : {&dataset, &checkpoint, &file}) {
      if (!StoredAndIntact(cluster, Sha256Hex(*bytes))) {
        ++lost_rounds;
        break;
      }
    }
  }
  stop.store(true);
  sweeper.join();
  std::cout << "rounds: " << kRounds << ", sweeps: " << sweeps.load()
            << ", rounds that lost bytes: " << lost_rounds << "\n";
  EXPECT_EQ(lost_rounds, 0);
  EXPECT_EQ(swept_files.load(), 0);
  EXPECT_GT(sweeps.load(), kRounds);
}

}  // namespace
}  // namespace fornax::server
