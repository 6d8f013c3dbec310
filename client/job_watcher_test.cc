// WatchJobEvents and GetJobWaiting against a real gRPC server on loopback
// that implements only Jobs.GetJob and Jobs.WatchJob, drops its streams on
// purpose, and starts late or goes away.
#include "client/job_watcher.h"

#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

v1::JobEvent MakeEvent(int64_t sequence, int64_t last) {
  v1::JobEvent e;
  e.set_job_id("j-1");
  e.set_sequence(sequence);
  if (sequence == last) {
    e.mutable_state()->set_state(v1::JOB_STATE_SUCCEEDED);
  } else {
    e.mutable_step()->set_step(sequence);
  }
  return e;
}

// A job whose log holds events 1..total (the last one its final state). Each
// stream sends from after_sequence + 1; the i-th one stops after
// drop_after[i] (if any) with `drop_code`, or, with hang, waits for the
// client to cancel.
class FakeJobs final : public v1::Jobs::Service {
 public:
  FakeJobs(int64_t total, std::vector<int64_t> drop_after, bool resend_last = false)
      : total_(total), drop_after_(std::move(drop_after)), resend_last_(resend_last) {}

  grpc::StatusCode drop_code = grpc::StatusCode::UNAVAILABLE;
  bool hang = false;
  bool drop_after_end = false;  // break the stream even after the final state

  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                      v1::Job* job) override {
    if (request->job_id() != "j-1") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no job");
    job->set_job_id("j-1");
    job->set_last_sequence(total_);
    return grpc::Status::OK;
  }

  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override {
    size_t call;
    {
      std::lock_guard<std::mutex> lock(mu_);
      call = after_.size();
      after_.push_back(request->after_sequence());
    }
    if (request->job_id() != "j-1") return grpc::Status(grpc::StatusCode::NOT_FOUND, "no job");
    int64_t from = request->after_sequence() + 1;
    // A replay that overlaps what the client has: it must drop the resend.
    if (resend_last_ && from > 1) --from;
    const int64_t stop = call < drop_after_.size() ? drop_after_[call] : total_;
    for (int64_t s = from; s <= stop; ++s) writer->Write(MakeEvent(s, total_));
    if (hang) {
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return grpc::Status::CANCELLED;
    }
    if (stop < total_ || drop_after_end) return grpc::Status(drop_code, "stream dropped");
    return grpc::Status::OK;
  }

  std::vector<int64_t> after() {
    std::lock_guard<std::mutex> lock(mu_);
    return after_;
  }

 private:
  const int64_t total_;
  const std::vector<int64_t> drop_after_;
  const bool resend_last_;
  std::mutex mu_;
  std::vector<int64_t> after_;
};

struct Server {
  explicit Server(grpc::Service* service, int port = 0) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &this->port);
    builder.RegisterService(service);
    server = builder.BuildAndStart();
  }
  ~Server() { server->Shutdown(std::chrono::system_clock::now()); }
  std::unique_ptr<v1::Jobs::Stub> Stub() const {
    return v1::Jobs::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                 grpc::InsecureChannelCredentials()));
  }
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

WatchOptions FastOptions() {
  WatchOptions options;
  options.initial_backoff = std::chrono::milliseconds(10);
  options.max_backoff = std::chrono::milliseconds(50);
  options.give_up_after = std::chrono::milliseconds(5000);
  return options;
}

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> out;
  for (int64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

TEST(JobWatcherTest, DroppedStreamsResumeAfterTheLastEventWithNoGapsOrDuplicates) {
  FakeJobs jobs(/*total=*/10, /*drop_after=*/{4, 7}, /*resend_last=*/true);
  Server server(&jobs);
  std::vector<int64_t> seen;
  std::ostringstream notices;
  WatchOptions options = FastOptions();
  options.notices = &notices;
  absl::Status status = WatchJobEvents(
      *server.Stub(), "j-1", options, [&](const v1::JobEvent& e) { seen.push_back(e.sequence()); });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(seen, ElementsAreArray(Range(1, 10)));
  EXPECT_THAT(jobs.after(), ElementsAre(0, 4, 7));
  EXPECT_THAT(notices.str(), ::testing::HasSubstr("resuming after event 4"));
  EXPECT_THAT(notices.str(), ::testing::HasSubstr("resuming after event 7"));
  EXPECT_THAT(notices.str(), ::testing::HasSubstr("back, resumed after event 7"));
}

TEST(JobWatcherTest, StartsAfterTheGivenSequence) {
  FakeJobs jobs(6, {});
  Server server(&jobs);
  WatchOptions options = FastOptions();
  options.after_sequence = 3;
  std::vector<int64_t> seen;
  ASSERT_TRUE(WatchJobEvents(*server.Stub(), "j-1", options, [&](const v1::JobEvent& e) {
                seen.push_back(e.sequence());
              }).ok());
  EXPECT_THAT(seen, ElementsAre(4, 5, 6));
  EXPECT_THAT(jobs.after(), ElementsAre(3));
}

TEST(JobWatcherTest, StopsAtUntilSequenceWithoutWaitingForTheJob) {
  FakeJobs jobs(100, {5});
  jobs.hang = true;  // a running job: the stream stays open
  Server server(&jobs);
  WatchOptions options = FastOptions();
  options.until_sequence = 5;
  std::vector<int64_t> seen;
  ASSERT_TRUE(WatchJobEvents(*server.Stub(), "j-1", options, [&](const v1::JobEvent& e) {
                seen.push_back(e.sequence());
              }).ok());
  EXPECT_THAT(seen, ElementsAreArray(Range(1, 5)));
}

TEST(JobWatcherTest, AStreamBrokenAfterTheFinalStateIsNotReopened) {
  FakeJobs jobs(4, {});
  jobs.drop_after_end = true;
  Server server(&jobs);
  std::vector<int64_t> seen;
  ASSERT_TRUE(WatchJobEvents(*server.Stub(), "j-1", FastOptions(), [&](const v1::JobEvent& e) {
                seen.push_back(e.sequence());
              }).ok());
  EXPECT_THAT(seen, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(jobs.after().size(), 1u);
}

TEST(JobWatcherTest, NotFoundIsNotRetried) {
  FakeJobs jobs(3, {});
  Server server(&jobs);
  absl::Status status =
      WatchJobEvents(*server.Stub(), "j-404", FastOptions(), [](const v1::JobEvent&) {});
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs.after().size(), 1u);
}

TEST(JobWatcherTest, GivesUpAfterFailingForTooLong) {
  // Every stream fails at once (more of them than the backoff allows).
  // 500 ms, not less: the third try needs the second to have failed within
  // give_up_after, which a stalled thread on a loaded machine could miss.
  FakeJobs jobs(10, std::vector<int64_t>(100, 0));
  Server server(&jobs);
  WatchOptions options = FastOptions();
  options.give_up_after = std::chrono::milliseconds(500);
  absl::Status status = WatchJobEvents(*server.Stub(), "j-1", options, [](const v1::JobEvent&) {});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), ::testing::HasSubstr("lost the event stream"));
  EXPECT_GE(jobs.after().size(), 3u);
}

// The coordinator process going away for real: the server is shut down
// mid-stream and another one starts on the same port.
TEST(JobWatcherTest, SurvivesTheServerRestartingOnTheSamePort) {
  FakeJobs first(8, {3});
  first.hang = true;  // holds the stream open after event 3
  auto server = std::make_unique<Server>(&first);
  const int port = server->port;
  auto stub = server->Stub();
  std::atomic<int64_t> last{0};
  std::vector<int64_t> seen;
  absl::Status status;
  std::thread watcher([&] {
    status = WatchJobEvents(*stub, "j-1", FastOptions(), [&](const v1::JobEvent& e) {
      seen.push_back(e.sequence());
      last = e.sequence();
    });
  });
  while (last < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server.reset();  // cancels the open stream
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  FakeJobs second(8, {});
  Server restarted(&second, port);
  ASSERT_EQ(restarted.port, port);
  watcher.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(seen, ElementsAreArray(Range(1, 8)));
  ASSERT_FALSE(second.after().empty());
  EXPECT_EQ(second.after().back(), 3);
}

// A port nobody listens on: one a server had a moment ago.
int FreedPort() {
  FakeJobs unused(1, {});
  return Server(&unused).port;
}

int CountOf(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// `fornax logs -f` started while the coordinator restarts: its GetJob and
// then its watch get through once the server listens, 1 s later, with the
// production backoff.
TEST(JobWatcherTest, FollowingWaitsForACoordinatorThatStartsLate) {
  const int port = FreedPort();
  ServiceClient client("127.0.0.1:" + std::to_string(port));
  FakeJobs jobs(5, {});
  std::unique_ptr<Server> server;
  std::thread starter([&] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    server = std::make_unique<Server>(&jobs, port);
  });
  std::ostringstream notices;
  WatchOptions options;
  options.notices = &notices;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<v1::Job> job = GetJobWaiting(client, "j-1", options);
  const auto waited = std::chrono::steady_clock::now() - start;
  starter.join();
  ASSERT_EQ(server->port, port);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->last_sequence(), 5);
  EXPECT_GE(waited, std::chrono::seconds(1));
  EXPECT_EQ(CountOf(notices.str(), "fornax: coordinator 127.0.0.1:" + std::to_string(port) +
                                       " unavailable; retrying\n"),
            1)
      << notices.str();

  std::vector<int64_t> seen;
  ASSERT_TRUE(WatchJobEvents(client.jobs(), "j-1", options, [&](const v1::JobEvent& e) {
                seen.push_back(e.sequence());
              }).ok());
  EXPECT_THAT(seen, ElementsAre(1, 2, 3, 4, 5));
}

// The coordinator going away between GetJob and the first WatchJob: the
// watch waits for it too.
TEST(JobWatcherTest, AFirstWatchWhileTheCoordinatorIsDownWaitsForIt) {
  FakeJobs jobs(3, {});
  auto server = std::make_unique<Server>(&jobs);
  const int port = server->port;
  ServiceClient client("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(client.GetJob("j-1").ok());
  server.reset();
  std::thread starter([&] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    server = std::make_unique<Server>(&jobs, port);
  });
  std::ostringstream notices;
  WatchOptions options;
  options.notices = &notices;
  std::vector<int64_t> seen;
  absl::Status status = WatchJobEvents(
      client.jobs(), "j-1", options, [&](const v1::JobEvent& e) { seen.push_back(e.sequence()); });
  starter.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(seen, ElementsAre(1, 2, 3));
  EXPECT_THAT(jobs.after(), ::testing::Contains(0));
  EXPECT_EQ(CountOf(notices.str(), "resuming after event 0 when the coordinator is back"), 1)
      << notices.str();
}

TEST(JobWatcherTest, GetJobWaitingGivesUpAfterTheBoundNamingTheCoordinator) {
  const int port = FreedPort();
  ServiceClient client("127.0.0.1:" + std::to_string(port));
  std::ostringstream notices;
  WatchOptions options;
  options.notices = &notices;
  options.give_up_after = std::chrono::milliseconds(1500);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<v1::Job> job = GetJobWaiting(client, "j-1", options);
  EXPECT_GE(std::chrono::steady_clock::now() - start, options.give_up_after);
  ASSERT_EQ(job.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(job.status().message());
  EXPECT_THAT(message, ::testing::StartsWith("coordinator 127.0.0.1:" + std::to_string(port) +
                                             " unavailable: "));
  EXPECT_THAT(message, ::testing::EndsWith(" s of retrying)"));
  EXPECT_EQ(CountOf(notices.str(), "unavailable; retrying"), 1) << notices.str();
}

TEST(JobWatcherTest, GetJobWaitingDoesNotRetryARefusal) {
  FakeJobs jobs(3, {});
  Server server(&jobs);
  ServiceClient client("127.0.0.1:" + std::to_string(server.port));
  std::ostringstream notices;
  WatchOptions options;
  options.notices = &notices;
  absl::StatusOr<v1::Job> job = GetJobWaiting(client, "j-404", options);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(notices.str(), "");
}

}  // namespace
}  // namespace fornax
