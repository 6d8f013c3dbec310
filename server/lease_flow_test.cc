// Leases beyond a job's normal run, over real gRPC on loopback: a worker
// that shuts down hands its jobs back at once (preempted), and heartbeats
// reconcile what a worker runs with what the coordinator believes.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_cluster.h"

namespace fornax::server {
namespace {

using ::testing::HasSubstr;

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
  v1::Job moved = cluster.Get(job.job_id());
  EXPECT_EQ(moved.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(moved.worker_id(), "w-2");
  EXPECT_EQ(moved.attempt(), 1);
  EXPECT_EQ(moved.restarts(), 0);
  EXPECT_FALSE(moved.has_failure());
  v1::LeaseResponse next = other.Next();
  ASSERT_TRUE(next.has_assign());
  EXPECT_EQ(next.assign().attempt(), 1);

  // The stopping worker gets no new job, although it has a free slot...
  v1::Job second;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &second).ok());
  EXPECT_EQ(cluster.Get(second.job_id()).state(), v1::JOB_STATE_QUEUED);
  EXPECT_THAT(cluster.Get(second.job_id()).reason(), HasSubstr("no free job slot on 1 worker"));
  // ...until it registers again.
  stopping.Register();
  stopping.OpenLease();
  next = stopping.Next();
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

}  // namespace
}  // namespace fornax::server
