// A checkpoint the coordinator refuses for good (here: over its
// --max-checkpoint-bytes) ends the job as FAILED, and `fornax get` and
// `fornax logs` say which checkpoint and why; the worker does not retry it
// forever while the job stays RUNNING, and the coordinator does not spend
// the job's restarts on it (each retry would be refused the same way).

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ServiceTest, CheckpointOverTheCoordinatorsLimitFailsTheJobWithTheReason) {
  // The limit is far below the job's checkpoints (an MLP with 784x128
  // weights is over 100 kB); the coordinator's default lease.
  std::unique_ptr<Daemon> coordinator = StartCoordinator(
      0, /*lease_timeout_ms=*/0, {"--retry-backoff-ms", "100", "--max-checkpoint-bytes", "1000"});
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);
  ServiceClient client(address);
  // Long enough that the refusal of its first checkpoint lands while it runs:
  // a job that ended by itself first would not be stopped by the worker.
  JobOptions options = JobOptions::Long(20);
  options.name = "big";
  options.max_restarts = 2;
  absl::StatusOr<v1::Job> submitted = client.Submit(Spec(options, address));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job_id();

  // The first attempt fails at its first checkpoint, and the job with it:
  // restarts left or not, a retry's checkpoint would be as large.
  absl::StatusOr<v1::Job> job = WaitForJob(client, id, Ended, absl::Seconds(120));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), v1::JOB_STATE_FAILED) << job->ShortDebugString();
  EXPECT_EQ(job->attempt(), 0) << job->reason();
  EXPECT_EQ(job->restarts(), 0) << job->reason();
  const std::string refusal =
      absl::StrCat("bytes) refused by the coordinator: RESOURCE_EXHAUSTED: size_bytes: job ", id,
                   "'s checkpoint is ");
  EXPECT_THAT(job->failure().message(), HasSubstr("checkpoint (epoch 1, ")) << job->reason();
  EXPECT_THAT(job->failure().message(), HasSubstr(refusal)) << job->reason();
  EXPECT_THAT(job->failure().message(),
              HasSubstr("more than the coordinator's --max-checkpoint-bytes 1000; the worker "
                        "stopped the job"))
      << job->reason();
  // The worker's message, where the job was (epoch 1-based, as `fornax get`
  // counts) and why it is not retried; not the SIGTERM the worker sent. The
  // job trains on while the refusal travels, so it may be past epoch 1.
  EXPECT_THAT(job->reason(), ::testing::StartsWith(absl::StrCat(
                                 "failed: ", job->failure().message(), " (during epoch ")));
  EXPECT_THAT(job->reason(),
              ::testing::ContainsRegex(" \\(during epoch [0-9]+, at step [0-9]+\\); "));
  EXPECT_THAT(job->reason(),
              ::testing::EndsWith("); not retried: the coordinator refuses this checkpoint "
                                  "every time"));
  EXPECT_EQ(job->failure().not_retried_because(),
            "the coordinator refuses this checkpoint every time");
  EXPECT_TRUE(job->final_checkpoint_id().empty()) << job->ShortDebugString();

  const CliResult get = RunCli(address, {"get", id});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out, HasSubstr("failed")) << get.out;
  EXPECT_THAT(get.out, HasSubstr(job->failure().message())) << get.out;
  // The failure: line names the worker's reason, not the SIGTERM it sent.
  EXPECT_THAT(get.out, ::testing::ContainsRegex("stopped by the worker because the coordinator "
                                                "refused its checkpoint during epoch [0-9]+/20, "))
      << get.out;
  EXPECT_THAT(get.out, ::testing::Not(HasSubstr("signal 15"))) << get.out;
  const CliResult logs = RunCli(address, {"logs", id});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr(refusal)) << logs.out;
  EXPECT_THAT(WorkerLog("w1"), HasSubstr("refused: RESOURCE_EXHAUSTED"));
  EXPECT_FALSE(worker->exited());
}

}  // namespace
}  // namespace fornax::service_testing
