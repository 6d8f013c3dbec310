// WatchJob joined mid-job: a stream opened while the job runs replays what
// was stored, then streams live, and ends with the job's final state (no
// gap, no duplicate); from after_sequence = the current last it gets just
// the rest. `fornax logs -f` joined mid-job likewise shows every epoch and
// exits when the job ends.
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

constexpr int kEpochs = 30;

TEST_F(ServiceTest, WatchJoinedMidJobEndsWithTheJob) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  ServiceClient client(address);
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);
  absl::StatusOr<v1::Job> job = client.Submit(Spec(JobOptions::Long(kEpochs), address));
  ASSERT_TRUE(job.ok()) << job.status();
  absl::StatusOr<v1::Job> running = WaitForJob(
      client, job->job_id(), [](const v1::Job& j) { return j.epoch() >= 2 || Ended(j); },
      absl::Seconds(60));
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_EQ(running->state(), v1::JOB_STATE_RUNNING);

  // Each stream gets 60 s: far more than the job needs to finish.
  std::vector<v1::JobEvent> from_start, from_now;
  std::future<absl::Status> a = std::async(std::launch::async, [&] {
    return client.Watch(job->job_id(), 0, false, &from_start, absl::Seconds(60));
  });
  std::future<absl::Status> b = std::async(std::launch::async, [&] {
    return client.Watch(job->job_id(), running->last_sequence(), false, &from_now,
                        absl::Seconds(60));
  });
  std::future<CliResult> logs = std::async(std::launch::async, [&] {
    return RunCli(address, {"logs", "-f", job->job_id()});
  });

  absl::StatusOr<v1::Job> done = WaitForJob(client, job->job_id(), Ended, absl::Seconds(90));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::JOB_STATE_SUCCEEDED);
  const absl::Status a_status = a.get();
  EXPECT_TRUE(a_status.ok()) << "the stream joined mid-job did not end with the job: " << a_status;
  EXPECT_EQ(SequenceProblems(from_start), "");
  EXPECT_EQ(static_cast<int64_t>(from_start.size()), done->last_sequence());
  const absl::Status b_status = b.get();
  EXPECT_TRUE(b_status.ok()) << "the stream from sequence " << running->last_sequence()
                             << " did not end with the job: " << b_status;
  ASSERT_FALSE(from_now.empty());
  EXPECT_EQ(from_now.front().sequence(), running->last_sequence() + 1);
  EXPECT_EQ(from_now.back().sequence(), done->last_sequence());

  CliResult r = logs.get();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  for (int epoch = 1; epoch <= kEpochs; ++epoch) {
    const std::string header = absl::StrCat("Epoch ", epoch, "/", kEpochs);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), header), 1) << header;
  }
}

}  // namespace
}  // namespace fornax::service_testing
