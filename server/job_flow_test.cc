// Jobs through their life over real gRPC on loopback: scheduling order,
// watching (replay, live, resume), dedup, lease loss, crashes, cancel and a
// coordinator restart.
#include <chrono>
#include <functional>
#include <thread>

#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "server/test_cluster.h"

namespace fornax::server {
namespace {

using ::testing::HasSubstr;

std::vector<v1::JobEvent> Watch(TestCluster& cluster, const std::string& job_id, int64_t after) {
  grpc::ClientContext context;
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  request.set_after_sequence(after);
  auto reader = cluster.jobs().WatchJob(&context, request);
  std::vector<v1::JobEvent> events;
  v1::JobEvent event;
  while (reader->Read(&event)) events.push_back(event);
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return events;
}

ServerOptions FastOptions(int64_t lease_timeout_ms = 10000) {
  ServerOptions options;
  options.coordinator.lease_timeout_ms = lease_timeout_ms;
  options.coordinator.retry_backoff_ms = 20;
  return options;
}

TEST(JobFlow, HigherPriorityRunsFirstThenFifo) {
  TestCluster cluster;
  std::vector<std::string> ids;
  for (int priority : {0, 5, 1, 5}) {
    v1::Job job;
    ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(priority), &job).ok());
    EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
    ids.push_back(job.job_id());
  }
  EXPECT_EQ(cluster.Get(ids[0]).reason(), "waiting: no workers registered");
  FakeWorker worker(&cluster.workers(), "w-1");
  worker.Register();
  worker.OpenLease();
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    v1::LeaseResponse next = worker.Next();
    ASSERT_TRUE(next.has_assign());
    order.push_back(next.assign().job_id());
    if (i == 0) {
      EXPECT_THAT(cluster.Get(ids[0]).reason(), HasSubstr("no free job slot on 1 worker"));
    }
    ASSERT_TRUE(worker.Report(next.assign().job_id(), 0, {ResultEvent(1, true)}).ok());
  }
  EXPECT_THAT(order, ::testing::ElementsAre(ids[1], ids[3], ids[2], ids[0]));
  EXPECT_EQ(cluster.Get(ids[0]).state(), v1::JOB_STATE_SUCCEEDED);
}

TEST(JobFlow, WatchReplaysThenFollowsLiveAndResumesWithoutGaps) {
  TestCluster cluster;
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  FakeWorker worker(&cluster.workers(), "w-1");
  worker.Register();
  worker.OpenLease();
  ASSERT_TRUE(worker.Next().has_assign());
  ASSERT_TRUE(worker.Report(job.job_id(), 0, {LogEvent(1, "a"), LogEvent(2, "b")}).ok());

  std::vector<v1::JobEvent> live;
  std::thread watcher([&] { live = Watch(cluster, job.job_id(), 0); });
  ASSERT_TRUE(WaitFor([&] { return cluster.Get(job.job_id()).last_sequence() == 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the watcher is now live
  v1::WorkerEvent epoch;
  epoch.set_worker_sequence(3);
  epoch.mutable_epoch()->set_epoch(0);
  (*epoch.mutable_epoch()->mutable_metrics()->mutable_values())["loss"] = 0.5;
  // A resend of 1-2 with the new ones: stored once.
  v1::ReportEventsResponse ack;
  ASSERT_TRUE(worker
                  .Report(job.job_id(), 0,
                          {LogEvent(1, "a"), LogEvent(2, "b"), epoch, LogEvent(4, "c")}, &ack)
                  .ok());
  EXPECT_EQ(ack.acked_sequence(), 4);
  ASSERT_TRUE(worker.Report(job.job_id(), 0, {ResultEvent(5, true)}).ok());
  watcher.join();  // ends after the terminal state

  // submitted, assigned, a, b, epoch, c, succeeded.
  ASSERT_EQ(live.size(), 7u);
  for (size_t i = 0; i < live.size(); ++i) EXPECT_EQ(live[i].sequence(), int64_t(i + 1));
  EXPECT_EQ(live[0].state().state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(live[1].state().state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(live[1].state().worker_id(), "w-1");
  EXPECT_EQ(live[3].log().text(), "b");
  EXPECT_EQ(live[4].epoch().metrics().values().at("loss"), 0.5);
  EXPECT_EQ(live[6].state().state(), v1::JOB_STATE_SUCCEEDED);

  std::vector<v1::JobEvent> resumed = Watch(cluster, job.job_id(), 3);
  ASSERT_EQ(resumed.size(), 4u);
  EXPECT_EQ(resumed[0].sequence(), 4);
  EXPECT_EQ(resumed[0].log().text(), "b");
  // After the end: nothing more, and the stream ends at once.
  EXPECT_TRUE(Watch(cluster, job.job_id(), 7).empty());
  v1::Job done = cluster.Get(job.job_id());
  EXPECT_EQ(done.epoch(), 1);
  EXPECT_EQ(done.last_metrics().values().at("loss"), 0.5);
}

TEST(JobFlow, LostLeaseRequeuesFromTheLatestCheckpoint) {
  TestCluster cluster(FastOptions(/*lease_timeout_ms=*/300));
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  FakeWorker dying(&cluster.workers(), "w-1");
  dying.Register();
  dying.OpenLease();
  ASSERT_TRUE(dying.Next().has_assign());
  // One checkpoint, at epoch 1.
  const std::string bytes = "checkpoint bytes";
  {
    // It heartbeats until it dies: on a loaded machine the upload (fsync'd)
    // can outlast the 300 ms lease, and the job would move before it.
    Heartbeats beats({&dying});
    grpc::ClientContext context;
    v1::CheckpointRecord record;
    auto writer = cluster.workers().UploadCheckpoint(&context, &record);
    v1::UploadCheckpointRequest header;
    v1::UploadCheckpointHeader* h = header.mutable_header();
    h->set_session_id(dying.session());
    h->set_job_id(job.job_id());
    h->set_epoch(1);
    h->set_global_step(100);
    h->set_sha256(Sha256Hex(bytes));
    h->set_size_bytes(static_cast<int64_t>(bytes.size()));
    writer->Write(header);
    v1::UploadCheckpointRequest data;
    data.set_data(bytes);
    writer->Write(data);
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    EXPECT_EQ(record.checkpoint_id(), job.job_id() + "-c1");
  }
  const auto lost_at = std::chrono::steady_clock::now();
  dying.CloseLease();  // and never heartbeats again
  ASSERT_TRUE(WaitFor([&] { return cluster.Get(job.job_id()).state() == v1::JOB_STATE_QUEUED; }));
  const auto requeue_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - lost_at)
                              .count();
  EXPECT_LT(requeue_ms, 1500);
  v1::Job requeued = cluster.Get(job.job_id());
  EXPECT_EQ(requeued.attempt(), 1);
  EXPECT_EQ(requeued.restarts(), 1);
  EXPECT_THAT(requeued.reason(), HasSubstr("worker w-1 lost"));
  EXPECT_THAT(requeued.reason(), HasSubstr("from checkpoint " + job.job_id() + "-c1 (epoch 1)"));

  FakeWorker healthy(&cluster.workers(), "w-2");
  healthy.Register();
  healthy.OpenLease();
  v1::LeaseResponse next = healthy.Next();
  ASSERT_TRUE(next.has_assign());
  Heartbeats beats({&healthy});  // it keeps the job (and its session) to the end
  EXPECT_EQ(next.assign().attempt(), 1);
  EXPECT_EQ(next.assign().resume_from().checkpoint_id(), job.job_id() + "-c1");
  EXPECT_EQ(next.assign().resume_from().epoch(), 1);
  // The old worker's late reports are refused.
  EXPECT_EQ(dying.Report(job.job_id(), 0, {LogEvent(9, "late")}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // The checkpoint downloads intact.
  grpc::ClientContext context;
  v1::WorkerDownloadCheckpointRequest request;
  request.set_session_id(healthy.session());
  request.set_checkpoint_id(job.job_id() + "-c1");
  auto reader = cluster.workers().DownloadCheckpoint(&context, request);
  std::string got;
  v1::DownloadDatasetChunk chunk;
  while (reader->Read(&chunk)) got += chunk.data();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, bytes);
}

// A retry backoff long enough that the Get right after a crash's report
// sees the job QUEUED. With FastOptions' 20 ms, a test thread descheduled
// for longer than that (a loaded machine) could meet the reaper's next pass
// first and find the retry RUNNING already.
ServerOptions CrashOptions() {
  ServerOptions options = FastOptions();
  options.coordinator.retry_backoff_ms = 1000;
  return options;
}

TEST(JobFlow, CrashesRetryWithBackoffUpToMaxRestartsThenFail) {
  TestCluster cluster(CrashOptions());
  v1::JobSpec spec = cluster.ValidSpec();
  spec.set_max_restarts(1);
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(spec, &job).ok());
  FakeWorker worker(&cluster.workers(), "w-1");
  worker.Register();
  worker.OpenLease();
  ASSERT_EQ(worker.Next().assign().attempt(), 0);
  ASSERT_TRUE(worker.Report(job.job_id(), 0, {ResultEvent(1, false)}).ok());
  v1::Job retrying = cluster.Get(job.job_id());
  EXPECT_EQ(retrying.state(), v1::JOB_STATE_QUEUED);
  EXPECT_THAT(retrying.reason(), HasSubstr("killed by signal 9"));
  EXPECT_EQ(retrying.failure().signal(), 9);
  ASSERT_EQ(worker.Next().assign().attempt(), 1);  // after the backoff
  ASSERT_TRUE(worker.Report(job.job_id(), 1, {ResultEvent(1, false)}).ok());
  v1::Job failed = cluster.Get(job.job_id());
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(failed.reason(), HasSubstr("failed: killed by signal 9"));
  EXPECT_THAT(failed.reason(), HasSubstr("1 of 1 restarts used"));
  EXPECT_EQ(failed.failure().signal(), 9);
}

// A failure the worker says a retry would repeat fails the job at once,
// restarts left or not; a crash before it is retried. With a message, the
// reason gives it (not the exit status) and the epoch 1-based.
TEST(JobFlow, FailureNotWorthRetryingFailsAtOnceAfterARetriedCrash) {
  ServerOptions options = CrashOptions();
  options.coordinator.max_checkpoint_bytes = 1000;
  TestCluster cluster(options);
  v1::JobSpec spec = cluster.ValidSpec();
  spec.set_max_restarts(2);
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(spec, &job).ok());
  FakeWorker worker(&cluster.workers(), "w-1");
  EXPECT_EQ(worker.Register().max_checkpoint_bytes(), 1000);
  worker.OpenLease();
  ASSERT_EQ(worker.Next().assign().attempt(), 0);
  v1::WorkerEvent crash = ResultEvent(1, false);
  v1::Failure* f = crash.mutable_result()->mutable_failure();
  f->set_message("job process killed by SIGKILL");
  f->set_epoch(0);
  f->set_global_step(32);
  ASSERT_TRUE(worker.Report(job.job_id(), 0, {crash}).ok());
  v1::Job retrying = cluster.Get(job.job_id());
  EXPECT_EQ(retrying.state(), v1::JOB_STATE_QUEUED);
  EXPECT_THAT(retrying.reason(),
              ::testing::StartsWith("requeued: job process killed by SIGKILL (during epoch 1, "
                                    "at step 32); attempt 1 resumes from the start"));

  ASSERT_EQ(worker.Next().assign().attempt(), 1);  // after the backoff
  v1::WorkerEvent refused = ResultEvent(1, false);
  f = refused.mutable_result()->mutable_failure();
  f->set_exit_code(0);
  f->set_signal(15);
  f->set_message("checkpoint (epoch 2, 5000 bytes) refused by the coordinator: ...");
  f->set_epoch(1);
  f->set_global_step(64);
  f->set_not_retried_because("the coordinator refuses this checkpoint every time");
  ASSERT_TRUE(worker.Report(job.job_id(), 1, {refused}).ok());
  v1::Job failed = cluster.Get(job.job_id());
  EXPECT_EQ(failed.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed.reason(),
            "failed: checkpoint (epoch 2, 5000 bytes) refused by the coordinator: ... (during "
            "epoch 2, at step 64); not retried: the coordinator refuses this checkpoint every "
            "time");
  EXPECT_EQ(failed.attempt(), 1);
  EXPECT_EQ(failed.restarts(), 1);
  EXPECT_EQ(failed.failure().not_retried_because(),
            "the coordinator refuses this checkpoint every time");
  EXPECT_TRUE(failed.has_end_time());
}

TEST(JobFlow, CancelReachesTheWorker) {
  TestCluster cluster;
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  FakeWorker worker(&cluster.workers(), "w-1");
  worker.Register();
  worker.OpenLease();
  ASSERT_TRUE(worker.Next().has_assign());
  grpc::ClientContext context;
  v1::CancelJobRequest request;
  request.set_job_id(job.job_id());
  request.set_reason("changed my mind");
  v1::Job cancelled;
  ASSERT_TRUE(cluster.jobs().CancelJob(&context, request, &cancelled).ok());
  EXPECT_EQ(cancelled.state(), v1::JOB_STATE_CANCELLED);
  v1::LeaseResponse next = worker.Next();
  ASSERT_TRUE(next.has_cancel());
  EXPECT_EQ(next.cancel().job_id(), job.job_id());
  EXPECT_EQ(next.cancel().reason(), "cancelled: changed my mind");
  // The worker's last words are still accepted and kept.
  EXPECT_TRUE(
      worker.Report(job.job_id(), 0, {LogEvent(1, "stopping"), ResultEvent(2, false)}).ok());
  EXPECT_EQ(cluster.Get(job.job_id()).state(), v1::JOB_STATE_CANCELLED);
}

TEST(JobFlow, RestartKeepsQueuedJobsAndReattachesRunningOnes) {
  TestCluster cluster(FastOptions());
  v1::Job running, queued;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &running).ok());
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &queued).ok());
  {
    FakeWorker worker(&cluster.workers(), "w-1");
    worker.Register();
    worker.OpenLease();
    ASSERT_EQ(worker.Next().assign().job_id(), running.job_id());
    ASSERT_TRUE(worker.Report(running.job_id(), 0, {LogEvent(1, "before")}).ok());
  }
  cluster.Restart();
  EXPECT_EQ(cluster.Get(queued.job_id()).state(), v1::JOB_STATE_QUEUED);
  v1::Job after = cluster.Get(running.job_id());
  EXPECT_EQ(after.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(after.worker_id(), "w-1");
  EXPECT_EQ(after.last_sequence(), 3);

  FakeWorker worker(&cluster.workers(), "w-1");
  v1::RunningJob still;
  still.set_job_id(running.job_id());
  v1::RunningJob stale;
  stale.set_job_id(queued.job_id());
  stale.set_attempt(0);
  v1::RegisterResponse registered = worker.Register({still, stale});
  ASSERT_EQ(registered.abandon_size(), 1);
  EXPECT_EQ(registered.abandon(0).job_id(), queued.job_id());
  worker.OpenLease();
  // A resend of the pre-restart event is dropped; new ones continue the log.
  ASSERT_TRUE(
      worker.Report(running.job_id(), 0, {LogEvent(1, "before"), LogEvent(2, "after")}).ok());
  ASSERT_TRUE(worker.Report(running.job_id(), 0, {ResultEvent(3, true)}).ok());
  std::vector<v1::JobEvent> events = Watch(cluster, running.job_id(), 0);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[2].log().text(), "before");
  EXPECT_EQ(events[3].log().text(), "after");
  EXPECT_EQ(events[4].state().state(), v1::JOB_STATE_SUCCEEDED);
  // The queued job runs next on the same worker.
  v1::LeaseResponse next = worker.Next();
  EXPECT_EQ(next.assign().job_id(), queued.job_id());
}

TEST(JobFlow, RunningJobsOfAWorkerThatNeverReturnsAreRequeuedAfterRestart) {
  TestCluster cluster(FastOptions(/*lease_timeout_ms=*/300));
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  {
    FakeWorker worker(&cluster.workers(), "w-1");
    worker.Register();
    worker.OpenLease();
    ASSERT_TRUE(worker.Next().has_assign());
    cluster.Stop();
  }
  cluster.Restart();
  ASSERT_TRUE(WaitFor([&] { return cluster.Get(job.job_id()).state() == v1::JOB_STATE_QUEUED; }));
  EXPECT_EQ(cluster.Get(job.job_id()).attempt(), 1);
}

TEST(JobFlow, TimesHaveSubsecondPrecision) {
  // Three submits take milliseconds: with whole-second times at least two
  // would share a submit time and a "submitted" event time.
  TestCluster cluster;
  std::vector<v1::Job> jobs(3);
  for (v1::Job& job : jobs) ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  for (const v1::Job& job : jobs) {  // so that watching them ends
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_job_id(job.job_id());
    v1::Job cancelled;
    ASSERT_TRUE(cluster.jobs().CancelJob(&context, request, &cancelled).ok());
  }
  for (size_t i = 1; i < jobs.size(); ++i) {
    EXPECT_LT(jobs[i - 1].submit_time(), jobs[i].submit_time())
        << jobs[i - 1].submit_time().DebugString() << " vs " << jobs[i].submit_time().DebugString();
    const v1::JobEvent before = Watch(cluster, jobs[i - 1].job_id(), 0).at(0);
    const v1::JobEvent after = Watch(cluster, jobs[i].job_id(), 0).at(0);
    EXPECT_LT(before.time(), after.time());
  }
}

TEST(JobFlow, ListJobsFiltersAndPages) {
  TestCluster cluster;
  for (int i = 0; i < 5; ++i) {
    v1::JobSpec spec = cluster.ValidSpec();
    spec.set_name(i % 2 ? "odd" : "even");
    v1::Job job;
    ASSERT_TRUE(cluster.Submit(spec, &job).ok());
  }
  v1::ListJobsRequest request;
  request.set_page_size(2);
  std::vector<std::string> ids;
  do {
    grpc::ClientContext context;
    v1::ListJobsResponse page;
    ASSERT_TRUE(cluster.jobs().ListJobs(&context, request, &page).ok());
    for (const auto& j : page.jobs()) ids.push_back(j.job_id());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  EXPECT_THAT(ids, ::testing::ElementsAre("job-5", "job-4", "job-3", "job-2", "job-1"));

  grpc::ClientContext context;
  v1::ListJobsRequest filtered;
  filtered.set_name_prefix("ev");
  filtered.add_states(v1::JOB_STATE_QUEUED);
  v1::ListJobsResponse page;
  ASSERT_TRUE(cluster.jobs().ListJobs(&context, filtered, &page).ok());
  EXPECT_EQ(page.jobs_size(), 3);
  grpc::ClientContext bad_context;
  v1::ListJobsRequest bad;
  bad.set_page_token("zzz");
  EXPECT_EQ(cluster.jobs().ListJobs(&bad_context, bad, &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace fornax::server
