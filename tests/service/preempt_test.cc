// A worker stopped with SIGTERM (a drain, a deploy, a spot preemption) hands
// its job back at once: the job runs on the other worker from its latest
// checkpoint well before the 10 s lease timeout would have noticed, and the
// move counts neither as a restart nor as a failure.
#include <signal.h>
#include <sys/wait.h>

#include <iostream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ServiceTest, SigtermedWorkersJobRunsOnTheOtherWorkerWithinSeconds) {
  TwoWorkers cluster;
  ASSERT_NO_FATAL_FAILURE(StartTwoWorkers(/*lease_timeout_ms=*/0, cluster));  // 10 s
  const std::unique_ptr<Daemon>& coordinator = cluster.coordinator;
  std::map<std::string, std::unique_ptr<Daemon>>& workers = cluster.workers;
  ServiceClient client(coordinator->grpc_address());

  JobOptions options = JobOptions::Long(500);
  options.max_restarts = 0;  // a counted failure would end the job
  absl::StatusOr<v1::Job> job = client.Submit(Spec(options, coordinator->grpc_address()));
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string id = job->job_id();
  absl::StatusOr<v1::Job> running = WaitForJob(
      client, id, [](const v1::Job& j) { return j.epoch() >= 2 || Ended(j); }, absl::Seconds(90));
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_EQ(running->state(), v1::JOB_STATE_RUNNING) << running->ShortDebugString();
  const std::string victim = running->worker_id();
  ASSERT_EQ(workers.count(victim), 1u) << victim;

  const absl::Time stopped = absl::Now();
  workers[victim]->Signal(SIGTERM);
  absl::StatusOr<v1::Job> moved = WaitForJob(
      client, id,
      [&](const v1::Job& j) {
        return (j.state() == v1::JOB_STATE_RUNNING && j.worker_id() != victim) || Ended(j);
      },
      absl::Seconds(9));  // under the lease timeout: the lease did not do it
  ASSERT_TRUE(moved.ok()) << "not moved within 9 s: " << moved.status();
  const absl::Duration took = absl::Now() - stopped;
  std::cerr << "SIGTERM of " << victim << ": " << id << " running on " << moved->worker_id()
            << " after " << absl::FormatDuration(took) << " (lease timeout 10 s)\n";
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_EQ(moved->state(), v1::JOB_STATE_RUNNING) << moved->ShortDebugString();
  EXPECT_EQ(moved->attempt(), 1);
  EXPECT_EQ(moved->restarts(), 0);
  EXPECT_FALSE(moved->has_failure()) << moved->failure().ShortDebugString();

  absl::StatusOr<int> exit = workers[victim]->Wait(absl::Seconds(10));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << *exit;

  // The new attempt resumes from the victim's last checkpoint.
  ASSERT_TRUE(WaitForJob(
                  client, id, [](const v1::Job& j) { return j.epoch() >= 3 || Ended(j); },
                  absl::Seconds(60))
                  .ok());
  {
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_job_id(id);
    v1::Job cancelled;
    ASSERT_TRUE(client.jobs().CancelJob(&context, request, &cancelled).ok());
  }
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(client.Watch(id, 0, false, &events).ok());
  EXPECT_EQ(SequenceProblems(events), "");
  std::string requeue, resumed;
  for (const v1::JobEvent& e : events) {
    if (!e.has_state()) continue;
    if (absl::StartsWith(e.state().reason(), "requeued:")) requeue = e.state().reason();
    if (e.state().attempt() == 1 && absl::StartsWith(e.state().reason(), "assigned to worker")) {
      // The coordinator's clock is this machine's: the event's time (with
      // nanoseconds) times the move better than polling GetJob can.
      const absl::Time assigned =
          absl::FromUnixSeconds(e.time().seconds()) + absl::Nanoseconds(e.time().nanos());
      std::cerr << "assigned to " << e.state().worker_id() << " "
                << absl::FormatDuration(assigned - stopped) << " after the SIGTERM (event time)\n";
      EXPECT_LT(assigned - stopped, absl::Seconds(5));
    }
    if (e.state().attempt() == 1 && absl::StrContains(e.state().reason(), "resumed at epoch")) {
      resumed = e.state().reason();
    }
  }
  EXPECT_THAT(requeue, HasSubstr(absl::StrCat("worker ", victim, " shut down (preempted)")));
  EXPECT_THAT(requeue, HasSubstr("resumes from checkpoint " + id + "-c"));
  EXPECT_FALSE(resumed.empty()) << "attempt 1 did not resume from a checkpoint";
}

}  // namespace
}  // namespace fornax::service_testing
