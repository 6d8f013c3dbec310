// Many watchers at once, and the Prometheus view of a job's life.
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"
#include "server/test_cluster.h"

namespace fornax::server {
namespace {

using ::testing::HasSubstr;

TEST(WatchLoad, TwoHundredConcurrentWatchersEachSeeEveryEventOnce) {
  TestCluster cluster;
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  FakeWorker worker(&cluster.workers(), "w-1");
  worker.Register();
  worker.OpenLease();
  ASSERT_TRUE(worker.Next().has_assign());

  constexpr int kWatchers = 200;
  std::vector<std::vector<int64_t>> seen(kWatchers);
  std::vector<grpc::Status> statuses(kWatchers);
  std::atomic<int> opened{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWatchers; ++i) {
    threads.emplace_back([&, i] {
      grpc::ClientContext context;
      v1::WatchJobRequest request;
      request.set_job_id(job.job_id());
      auto reader = cluster.jobs().WatchJob(&context, request);
      v1::JobEvent event;
      bool first = true;
      while (reader->Read(&event)) {
        if (first) opened.fetch_add(1);
        first = false;
        seen[i].push_back(event.sequence());
      }
      statuses[i] = reader->Finish();
    });
  }
  // Every watcher has replayed the first events before the live ones come.
  for (int i = 0; i < 500 && opened.load() < kWatchers; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(opened.load(), kWatchers);
  for (int64_t n = 1; n <= 20; ++n) {
    ASSERT_TRUE(worker.Report(job.job_id(), 0, {LogEvent(n, "line")}).ok());
  }
  ASSERT_TRUE(worker.Report(job.job_id(), 0, {ResultEvent(21, true)}).ok());
  for (auto& t : threads) t.join();
  std::vector<int64_t> expected;
  for (int64_t s = 1; s <= 23; ++s) expected.push_back(s);  // submitted, assigned, 21 reports
  for (int i = 0; i < kWatchers; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    ASSERT_EQ(seen[i], expected) << "watcher " << i;
  }
}

TEST(WatchLoad, WatchersBeyondTheLimitAreResourceExhausted) {
  ServerOptions options;
  options.max_watch_streams = 1;
  TestCluster cluster(options);
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  grpc::ClientContext first_context;
  v1::WatchJobRequest request;
  request.set_job_id(job.job_id());
  auto first = cluster.jobs().WatchJob(&first_context, request);
  v1::JobEvent event;
  ASSERT_TRUE(first->Read(&event));  // open and being served
  grpc::ClientContext second_context;
  auto second = cluster.jobs().WatchJob(&second_context, request);
  EXPECT_FALSE(second->Read(&event));
  grpc::Status status = second->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("limit 1"));
  first_context.TryCancel();
  first->Finish().IgnoreError();
}

TEST(WatchLoad, MetricsFollowTheJob) {
  TestCluster cluster;
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  FakeWorker worker(&cluster.workers(), "w-1");
  worker.Register();
  worker.OpenLease();
  ASSERT_TRUE(worker.Next().has_assign());
  v1::WorkerEvent epoch;
  epoch.set_worker_sequence(1);
  (*epoch.mutable_epoch()->mutable_metrics()->mutable_values())["loss"] = 0.25;
  ASSERT_TRUE(worker.Report(job.job_id(), 0, {epoch}).ok());
  const std::string text =
      prometheus::TextSerializer().Serialize(cluster.server().metrics().registry()->Collect());
  EXPECT_THAT(text, HasSubstr("fornax_jobs{state=\"running\"} 1"));
  EXPECT_THAT(text, HasSubstr("fornax_queue_depth 0"));
  EXPECT_THAT(text, HasSubstr("fornax_workers_up 1"));
  EXPECT_THAT(text, HasSubstr("fornax_job_events_total 3"));
  EXPECT_THAT(text, HasSubstr("fornax_scheduling_latency_seconds_count 1"));
  EXPECT_THAT(text, HasSubstr("fornax_job_metric{job=\"job-1\",metric=\"loss\"} 0.25"));
}

}  // namespace
}  // namespace fornax::server
