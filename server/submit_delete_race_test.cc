// SubmitJob and DeleteDataset racing over one dataset: the job is stored
// only with its input still there, and the dataset is deleted only when no
// job uses it.
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/upload_test_util.h"

namespace fornax::server {
namespace {

constexpr int kRounds = 30;
constexpr int kPairs = 8;

// A valid spec training on the dataset `sha256` (TestCluster::ValidSpec's
// model and job file, with another input).
v1::JobSpec SpecReading(TestCluster& cluster, const std::string& sha256) {
  v1::JobSpec spec = cluster.ValidSpec();
  const std::string old_path = spec.inputs(0).path();
  const std::string path = "inputs/" + sha256 + "/train.npz";
  std::string yaml = spec.job_yaml();
  for (size_t at = yaml.find(old_path); at != std::string::npos; at = yaml.find(old_path)) {
    yaml.replace(at, old_path.size(), path);
  }
  spec.set_job_yaml(yaml);
  spec.mutable_inputs(0)->set_path(path);
  spec.mutable_inputs(0)->set_sha256(sha256);
  return spec;
}

// One dataset, a job submitted reading it and a delete of it at once: either
// the delete wins (the submit is refused: the dataset is not stored) or the
// submit does (the delete is refused, naming the job); never both.
struct Race {
  std::string sha256;
  grpc::Status submitted, deleted;
  v1::Job job;
};

// Each round runs kPairs races side by side, their deletes starting after
// delays that sweep the span of the last round's submits: the window to hit
// (between a submit's check of its inputs and its insert) is short and sits
// near the submit's end, and the other races' writes to the store widen it.
TEST(SubmitDeleteRace, AJobIsNeverStoredWithoutItsInput) {
  TestCluster cluster;
  Coordinator& coordinator = cluster.server().coordinator();
  using Clock = std::chrono::steady_clock;
  std::atomic<int64_t> submit_us{5000};
  int both_succeeded = 0, deletes_won = 0, submits_won = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<Race> races(kPairs);
    std::vector<v1::JobSpec> specs;
    for (int i = 0; i < kPairs; ++i) {
      const std::string bytes = absl::StrCat("round ", round, " race ", i);
      races[i].sha256 = Sha256Hex(bytes);
      ASSERT_TRUE(UploadDataset(cluster, bytes).ok());
      specs.push_back(SpecReading(cluster, races[i].sha256));
    }
    const int64_t span_us = submit_us.load();
    std::atomic<int> ready{0};
    auto start_together = [&ready] {
      ready.fetch_add(1);
      while (ready.load() < 2 * kPairs) std::this_thread::yield();
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < kPairs; ++i) {
      threads.emplace_back([&, i] {
        start_together();
        const Clock::time_point start = Clock::now();
        races[i].submitted = cluster.Submit(specs[i], &races[i].job);
        submit_us.store(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
      });
      threads.emplace_back([&, i] {
        start_together();
        std::this_thread::sleep_for(
            std::chrono::microseconds(span_us * ((round * kPairs + i) % 32) / 32));
        races[i].deleted = DeleteDataset(cluster, races[i].sha256);
      });
    }
    for (std::thread& t : threads) t.join();
    for (const Race& race : races) {
      if (race.submitted.ok() && race.deleted.ok()) {
        ++both_succeeded;
      } else if (race.deleted.ok()) {
        ++deletes_won;
        EXPECT_EQ(race.submitted.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
        EXPECT_THAT(race.submitted.error_message(),
                    ::testing::HasSubstr(absl::StrCat("dataset ", race.sha256, " (")));
        EXPECT_THAT(race.submitted.error_message(), ::testing::HasSubstr("is not stored"));
      } else {
        ++submits_won;
        EXPECT_TRUE(race.submitted.ok()) << race.submitted.error_message();
        EXPECT_EQ(race.deleted.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
        EXPECT_EQ(race.deleted.error_message(),
                  absl::StrCat("dataset ", race.sha256, " is used by ", race.job.job_id(),
                               ", which has not ended"));
      }
    }
  }
  std::cout << "races: " << kRounds * kPairs << ", deletes won: " << deletes_won
            << ", submits won: " << submits_won << ", both succeeded: " << both_succeeded << "\n";
  EXPECT_EQ(both_succeeded, 0);
  v1::ListJobsRequest request;
  request.set_page_size(1000);
  absl::StatusOr<v1::ListJobsResponse> jobs = coordinator.ListJobs(request);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  for (const v1::Job& stored : jobs->jobs()) {
    for (const v1::InputFile& input : stored.spec().inputs()) {
      absl::StatusOr<std::optional<v1::Dataset>> dataset =
          coordinator.store().GetDataset(input.sha256());
      ASSERT_TRUE(dataset.ok()) << dataset.status();
      EXPECT_TRUE(dataset->has_value()) << stored.job_id() << " reads " << input.sha256();
      EXPECT_TRUE(StoredAndIntact(cluster, input.sha256())) << stored.job_id();
    }
  }
}

}  // namespace
}  // namespace fornax::server
