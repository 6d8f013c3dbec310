// Leases beyond a job's normal run, over real gRPC on loopback: a worker
// that shuts down hands its jobs back at once (preempted) and leaves, and heartbeats
// reconcile what a worker runs with what the coordinator believes.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_cluster.h"

namespace fornax::server {
namespace {

using ::testing::HasSubstr;

// The job runs its second attempt on `other` (assigned down its lease),
// with no restart and no failure counted: a preemption.
void ExpectMovedAsPreempted(TestCluster& cluster, const std::string& job_id, FakeWorker* other) {
  v1::Job moved = cluster.Get(job_id);
  EXPECT_EQ(moved.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(moved.worker_id(), other->name());
  EXPECT_EQ(moved.attempt(), 1);
  EXPECT_EQ(moved.restarts(), 0);
  EXPECT_FALSE(moved.has_failure());
  v1::LeaseResponse next = other->Next();
  ASSERT_TRUE(next.has_assign());
  EXPECT_EQ(next.assign().attempt(), 1);
}

// The job's events; it must have ended (or the watch would follow it).
std::vector<v1::JobEvent> EventsOf(TestCluster& cluster, const std::string& job_id) {
  grpc::ClientContext context;
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  auto reader = cluster.jobs().WatchJob(&context, request);
  std::vector<v1::JobEvent> events;
  v1::JobEvent event;
  while (reader->Read(&event)) events.push_back(event);
  EXPECT_TRUE(reader->Finish().ok());
  return events;
}

// Why the job last went back to the queue; it must have ended.
std::string LastQueuedReason(TestCluster& cluster, const std::string& job_id) {
  std::string reason;
  for (const v1::JobEvent& e : EventsOf(cluster, job_id)) {
    if (e.has_state() && e.state().state() == v1::JOB_STATE_QUEUED) reason = e.state().reason();
  }
  return reason;
}

TEST(LeaseFlow, PreemptedJobMovesAtOnceWithoutCountingAndTheWorkerGetsNoNewJobs) {
  ServerOptions options;
  options.coordinator.retry_backoff_ms = 60000;  // a counted retry would wait a minute
  TestCluster cluster(options);
  v1::JobSpec spec = cluster.ValidSpec();
  spec.set_max_restarts(0);  // a counted failure would fail the job
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(spec, &job).ok());
  FakeWorker stopping(&cluster.workers(), "w-1");
  stopping.Register();
  stopping.OpenLease();
  ASSERT_TRUE(stopping.Next().has_assign());
  FakeWorker other(&cluster.workers(), "w-2");
  other.Register();
  other.OpenLease();

  ASSERT_TRUE(stopping.Report(job.job_id(), 0, {LogEvent(1, "bye"), PreemptedEvent(2)}).ok());
  // Requeued and placed on the other worker in the same call: no backoff.
  ExpectMovedAsPreempted(cluster, job.job_id(), &other);

  // The stopping worker gets no new job, although it has a free slot...
  v1::Job second;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &second).ok());
  EXPECT_EQ(cluster.Get(second.job_id()).state(), v1::JOB_STATE_QUEUED);
  EXPECT_THAT(cluster.Get(second.job_id()).reason(), HasSubstr("no free job slot on 1 worker"));
  // ...until it registers again.
  stopping.Register();
  stopping.OpenLease();
  v1::LeaseResponse next = stopping.Next();
  ASSERT_TRUE(next.has_assign());
  EXPECT_EQ(next.assign().job_id(), second.job_id());

  ASSERT_TRUE(other.Report(job.job_id(), 1, {ResultEvent(1, true)}).ok());
  bool saw_requeue = false;
  for (const v1::JobEvent& e : EventsOf(cluster, job.job_id())) {
    if (!e.has_state() || e.state().state() != v1::JOB_STATE_QUEUED) continue;
    if (e.state().reason() == "submitted") continue;
    saw_requeue = true;
    EXPECT_THAT(e.state().reason(), HasSubstr("worker w-1 shut down (preempted)"));
    EXPECT_EQ(e.state().worker_id(), "w-1");  // where the attempt ended
  }
  EXPECT_TRUE(saw_requeue);
  EXPECT_EQ(cluster.Get(job.job_id()).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(LeaseFlow, ALeavingWorkerIsDownAtOnceAndItsJobsMoveAsPreempted) {
  ServerOptions options;
  options.coordinator.retry_backoff_ms = 60000;  // a counted retry would wait a minute
  TestCluster cluster(options);                  // lease timeout 10 s
  v1::JobSpec spec = cluster.ValidSpec();
  spec.set_max_restarts(0);  // a counted failure would fail the job
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(spec, &job).ok());
  FakeWorker leaving(&cluster.workers(), "w-1");
  leaving.Register();
  leaving.OpenLease();
  // Assigned to it, with no result reported (assigned while it stopped).
  ASSERT_TRUE(leaving.Next().has_assign());
  FakeWorker other(&cluster.workers(), "w-2");
  other.Register();
  other.OpenLease();

  ASSERT_TRUE(leaving.Leave().ok());
  // In the same call: requeued as a preemption and placed on the other one.
  ExpectMovedAsPreempted(cluster, job.job_id(), &other);
  // Down, and its lease stream ended by the coordinator.
  grpc::ClientContext context;
  v1::ListWorkersResponse workers;
  ASSERT_TRUE(cluster.workers().ListWorkers(&context, v1::ListWorkersRequest(), &workers).ok());
  ASSERT_EQ(workers.workers_size(), 2);
  EXPECT_EQ(workers.workers(0).worker_id(), "w-1");
  EXPECT_FALSE(workers.workers(0).up());
  EXPECT_TRUE(workers.workers(1).up());
  EXPECT_EQ(leaving.Next().kind_case(), v1::LeaseResponse::KIND_NOT_SET);
  // Its session is over: leaving again, or reporting, is refused.
  grpc::Status again = leaving.Leave();
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(again.error_message(), HasSubstr("of worker w-1 is not current"));
  EXPECT_EQ(leaving.Report(job.job_id(), 0, {LogEvent(1, "late")}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  FakeWorker stranger(&cluster.workers(), "w-3");
  EXPECT_EQ(stranger.Leave().error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  ASSERT_TRUE(other.Report(job.job_id(), 1, {ResultEvent(1, true)}).ok());
  const std::string reason = LastQueuedReason(cluster, job.job_id());
  EXPECT_THAT(reason, HasSubstr("requeued: worker w-1 left (preempted); attempt 1 resumes"));
}

TEST(LeaseFlow, AJobMissingFromTwoHeartbeatsIsRequeuedAsLostNotFailed) {
  ServerOptions options;
  // Lost once missing from two heartbeats at least 1.5 s apart.
  options.coordinator.heartbeat_interval_ms = 3000;
  options.coordinator.retry_backoff_ms = 60000;  // a counted retry would wait a minute
  TestCluster cluster(options);
  v1::JobSpec spec = cluster.ValidSpec();
  spec.set_max_restarts(0);  // a counted failure would fail the job
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(spec, &job).ok());
  FakeWorker worker(&cluster.workers(), "w-1");
  worker.Register();  // assigned now; in flight until Next() reads it
  worker.OpenLease();
  // Two heartbeats without it, but in quick succession: the assignment may
  // still be on its way, so the job stays.
  worker.HeartbeatAndWait();
  EXPECT_EQ(cluster.Get(job.job_id()).state(), v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(worker.Next().has_assign());
  worker.HeartbeatAndWait();  // lists it

  worker.set_running({});  // the worker lost it
  worker.HeartbeatAndWait();
  const auto first_miss = std::chrono::steady_clock::now();  // applied before this
  EXPECT_EQ(cluster.Get(job.job_id()).attempt(), 0);
  std::this_thread::sleep_until(first_miss + std::chrono::milliseconds(1600));
  worker.HeartbeatAndWait();
  v1::Job requeued = cluster.Get(job.job_id());
  // Requeued and placed again at once (the worker's slot is free), counted
  // as a restart but not as a failure.
  EXPECT_EQ(requeued.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(requeued.attempt(), 1);
  EXPECT_EQ(requeued.restarts(), 1);
  EXPECT_FALSE(requeued.has_failure());
  v1::LeaseResponse next = worker.Next();
  ASSERT_TRUE(next.has_assign());
  EXPECT_EQ(next.assign().attempt(), 1);

  ASSERT_TRUE(worker.Report(job.job_id(), 1, {ResultEvent(1, true)}).ok());
  const std::string reason = LastQueuedReason(cluster, job.job_id());
  EXPECT_THAT(reason, HasSubstr("requeued: worker w-1 no longer runs it (missing from 2 "
                                "heartbeats over "));
}

TEST(LeaseFlow, AJobTheWorkerListsButDoesNotHoldIsCancelledDownItsLease) {
  TestCluster cluster;
  v1::Job mine, theirs;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &mine).ok());
  FakeWorker w1(&cluster.workers(), "w-1");
  w1.Register();
  w1.OpenLease();
  ASSERT_EQ(w1.Next().assign().job_id(), mine.job_id());
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &theirs).ok());
  FakeWorker w2(&cluster.workers(), "w-2");
  w2.Register();
  w2.OpenLease();
  ASSERT_EQ(w2.Next().assign().job_id(), theirs.job_id());

  auto running = [](const std::string& job_id, int32_t attempt) {
    v1::RunningJob r;
    r.set_job_id(job_id);
    r.set_attempt(attempt);
    return r;
  };
  w1.set_running({running(mine.job_id(), 0), running(theirs.job_id(), 0), running("job-99", 0)});
  w1.HeartbeatAndWait();
  ASSERT_EQ(w1.pending(), 2u);  // nothing for its own job
  v1::LeaseResponse cancel = w1.Next();
  ASSERT_TRUE(cancel.has_cancel()) << cancel.ShortDebugString();
  EXPECT_EQ(cancel.cancel().job_id(), theirs.job_id());
  EXPECT_EQ(cancel.cancel().attempt(), 0);
  EXPECT_THAT(cancel.cancel().reason(),
              HasSubstr("worker w-1 does not hold " + theirs.job_id() + " attempt 0"));
  EXPECT_THAT(cancel.cancel().reason(), HasSubstr("on worker w-2"));
  cancel = w1.Next();
  ASSERT_TRUE(cancel.has_cancel()) << cancel.ShortDebugString();
  EXPECT_EQ(cancel.cancel().job_id(), "job-99");
  EXPECT_THAT(cancel.cancel().reason(), HasSubstr("not found"));
  // Nothing changed for the coordinator.
  EXPECT_EQ(cluster.Get(mine.job_id()).worker_id(), "w-1");
  EXPECT_EQ(cluster.Get(theirs.job_id()).worker_id(), "w-2");
  EXPECT_EQ(cluster.Get(theirs.job_id()).state(), v1::JOB_STATE_RUNNING);
}

}  // namespace
}  // namespace fornax::server
