// M1-3 acceptance 4: a job whose process is killed (kill -9 of the worker's
// child) is reported with its cause, retried up to max_restarts, then marked
// failed with the root cause; the worker itself survives every crash.
#include <signal.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr int kMaxRestarts = 2;

TEST_F(ServiceTest, CrashingJobIsRetriedThenFailsWithItsCause) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  ServiceClient client(coordinator->grpc_address());
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);

  JobOptions options = JobOptions::Long(500);  // never finishes on its own
  options.name = "crashes";
  options.max_restarts = kMaxRestarts;
  absl::StatusOr<v1::Job> submitted = client.Submit(Spec(options, coordinator->grpc_address()));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  const std::string id = submitted->job_id();

  for (int attempt = 0; attempt <= kMaxRestarts; ++attempt) {
    absl::StatusOr<v1::Job> running = WaitForJob(
        client, id,
        [attempt](const v1::Job& j) {
          return (j.attempt() == attempt && j.state() == v1::JOB_STATE_RUNNING) || Ended(j);
        },
        absl::Seconds(60));
    ASSERT_TRUE(running.ok()) << "attempt " << attempt << ": " << running.status();
    ASSERT_EQ(running->state(), v1::JOB_STATE_RUNNING) << running->ShortDebugString();
    const std::vector<pid_t> children = JobProcesses(*worker);
    ASSERT_EQ(children.size(), 1u) << "attempt " << attempt;
    ASSERT_EQ(kill(children[0], SIGKILL), 0);
  }

  absl::StatusOr<v1::Job> failed = WaitForJob(client, id, Ended, absl::Seconds(30));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->state(), v1::JOB_STATE_FAILED) << failed->ShortDebugString();
  EXPECT_EQ(failed->restarts(), kMaxRestarts);
  EXPECT_EQ(failed->attempt(), kMaxRestarts);
  EXPECT_EQ(failed->failure().signal(), SIGKILL) << failed->ShortDebugString();
  EXPECT_EQ(failed->failure().exit_code(), -1);
  EXPECT_FALSE(worker->exited()) << "a crashing job took its worker down";
  ASSERT_TRUE(ProcessAlive(worker->pid()));

  // Every crash is in the event log with its cause; the retries went back to
  // the queue.
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(client.Watch(id, 0, false, &events).ok());
  EXPECT_EQ(SequenceProblems(events), "");
  int requeues = 0;
  for (const v1::JobEvent& e : events) {
    if (e.has_state() && e.state().state() == v1::JOB_STATE_QUEUED && e.state().attempt() > 0) {
      ++requeues;
      EXPECT_THAT(absl::AsciiStrToLower(e.state().reason()),
                  AnyOf(HasSubstr("signal 9"), HasSubstr("sigkill")))
          << e.ShortDebugString();
    }
  }
  EXPECT_EQ(requeues, kMaxRestarts);

  // `fornax get` shows the root cause.
  CliResult get = RunCli(coordinator->grpc_address(), {"get", id});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(absl::AsciiStrToLower(get.out), AnyOf(HasSubstr("signal 9"), HasSubstr("sigkill")))
      << get.out;
}

}  // namespace
}  // namespace fornax::service_testing
