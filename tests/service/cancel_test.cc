// `fornax cancel` on a running job: the job ends CANCELLED and its process
// is gone within 2 s (M1-3: "cancels within 2 s"); the worker takes the next
// job.
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

TEST_F(ServiceTest, CancelStopsARunningJobWithinTwoSeconds) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  ServiceClient client(coordinator->grpc_address());
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);

  JobOptions options = JobOptions::Long(500);  // never finishes on its own
  options.name = "cancelled";
  absl::StatusOr<v1::Job> job = client.Submit(Spec(options, coordinator->grpc_address()));
  ASSERT_TRUE(job.ok()) << job.status();
  JobOptions next_options;
  next_options.name = "next";
  absl::StatusOr<v1::Job> next = client.Submit(Spec(next_options, coordinator->grpc_address()));
  ASSERT_TRUE(next.ok()) << next.status();

  ASSERT_TRUE(WaitForJob(
                  client, job->job_id(),
                  [](const v1::Job& j) { return j.epoch() >= 1 || Ended(j); }, absl::Seconds(60))
                  .ok());
  const std::vector<pid_t> processes = JobProcesses(*worker);
  ASSERT_EQ(processes.size(), 1u);

  const absl::Time asked = absl::Now();
  CliResult cancel = RunCli(coordinator->grpc_address(), {"cancel", job->job_id()});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.out << cancel.err;
  absl::StatusOr<v1::Job> cancelled = WaitForJob(client, job->job_id(), Ended, absl::Seconds(10));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::JOB_STATE_CANCELLED) << cancelled->ShortDebugString();
  while (ProcessAlive(processes[0]) && absl::Now() - asked < absl::Seconds(5)) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration took = absl::Now() - asked;
  EXPECT_FALSE(ProcessAlive(processes[0]));
  EXPECT_LE(took, absl::Seconds(2)) << "cancel took " << absl::FormatDuration(took);
  std::cerr << "cancelled, job process gone " << absl::FormatDuration(took)
            << " after `fornax cancel` started\n";

  absl::StatusOr<v1::Job> second = WaitForJob(client, next->job_id(), Ended, absl::Seconds(60));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->state(), v1::JOB_STATE_SUCCEEDED) << second->ShortDebugString();
}

}  // namespace
}  // namespace fornax::service_testing
