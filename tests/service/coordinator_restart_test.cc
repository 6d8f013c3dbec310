// M1-3 acceptance 3: kill -9 of the coordinator with one job running and two
// queued, then a restart on the same port and data dir. No job is lost, the
// running job continues on its worker (same attempt: re-attached, not
// requeued), and watchers that reconnect with the last sequence they saw
// receive every event of every job exactly once.
#include <algorithm>
#include <future>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

constexpr int kLongEpochs = 50;

TEST_F(ServiceTest, CoordinatorKill9AndRestartLosesNothing) {
  const int port = FreePort();
  std::unique_ptr<Daemon> coordinator = StartCoordinator(port, 10000);
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  ServiceClient client(address);
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    // The first runs long enough to span the restart.
    JobOptions options = i == 0 ? JobOptions::Long(kLongEpochs) : JobOptions();
    options.name = absl::StrCat("job", i);
    options.epochs = i == 0 ? kLongEpochs : 2;
    absl::StatusOr<v1::Job> job = client.Submit(Spec(options, address));
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->job_id());
  }
  std::vector<std::unique_ptr<JobWatcher>> watchers;
  for (const std::string& id : ids)
    watchers.push_back(std::make_unique<JobWatcher>(address, id, absl::Seconds(20)));
  // And the CLI's own watcher, which must reconnect by itself.
  std::future<CliResult> logs = std::async(std::launch::async, [this, &address, &ids] {
    return RunCli(address, {"logs", "-f", ids[0]});
  });

  absl::StatusOr<v1::Job> running = WaitForJob(
      client, ids[0], [](const v1::Job& j) { return j.epoch() >= 1 || Ended(j); },
      absl::Seconds(60));
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_EQ(running->state(), v1::JOB_STATE_RUNNING);
  for (size_t i = 1; i < ids.size(); ++i) {
    absl::StatusOr<v1::Job> queued = client.Get(ids[i]);
    ASSERT_TRUE(queued.ok());
    EXPECT_EQ(queued->state(), v1::JOB_STATE_QUEUED) << queued->ShortDebugString();
  }

  coordinator->Kill();
  absl::SleepFor(absl::Seconds(1));  // the worker trains on, buffering its events
  coordinator = StartCoordinator(port, 10000);
  ASSERT_NE(coordinator, nullptr);
  ASSERT_EQ(coordinator->grpc_address(), address);
  absl::StatusOr<v1::Job> after_restart =  // the first answer of the new process
      WaitForJob(
          client, ids[0], [](const v1::Job&) { return true; }, absl::Seconds(10));
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_EQ(after_restart->state(), v1::JOB_STATE_RUNNING)
      << "the job must still run across the restart: " << after_restart->ShortDebugString();

  std::vector<v1::Job> jobs = WaitForAllEnded(client, ids, absl::Seconds(120));
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.ShortDebugString();
  }
  // Re-attached, not requeued.
  EXPECT_EQ(jobs[0].attempt(), 0) << jobs[0].ShortDebugString();
  EXPECT_EQ(jobs[0].restarts(), 0);
  EXPECT_EQ(jobs[0].worker_id(), running->worker_id());

  v1::ListJobsResponse listed;
  grpc::ClientContext ctx;
  ASSERT_TRUE(client.jobs().ListJobs(&ctx, v1::ListJobsRequest(), &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 3);

  for (size_t i = 0; i < ids.size(); ++i) {
    const std::vector<v1::JobEvent>& events = watchers[i]->Finish(absl::Seconds(30));
    EXPECT_TRUE(watchers[i]->done()) << ids[i] << ": the watch never saw the final state";
    EXPECT_EQ(watchers[i]->stuck_windows(), 0)
        << ids[i] << ": a WatchJob stream stayed open after the job ended";
    EXPECT_EQ(SequenceProblems(events), "") << ids[i];
    EXPECT_EQ(static_cast<int64_t>(events.size()), jobs[i].last_sequence()) << ids[i];
    std::vector<int> epochs;
    for (const v1::JobEvent& e : events) {
      if (e.has_epoch()) epochs.push_back(e.epoch().epoch());
    }
    std::vector<int> expected(i == 0 ? kLongEpochs : 2);
    for (size_t e = 0; e < expected.size(); ++e) expected[e] = static_cast<int>(e);
    EXPECT_EQ(epochs, expected) << ids[i];
  }
  EXPECT_GE(watchers[0]->reconnects(), 1) << "the watcher never saw the coordinator go";

  // `fornax logs -f` across the restart: every epoch once, in order.
  CliResult r = logs.get();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  size_t last = 0;
  for (int epoch = 1; epoch <= kLongEpochs; ++epoch) {
    const std::string header = absl::StrCat("Epoch ", epoch, "/", kLongEpochs);
    EXPECT_EQ(std::count(lines.begin(), lines.end(), header), 1) << header << " in:\n" << r.out;
    const size_t at = std::find(lines.begin(), lines.end(), header) - lines.begin();
    EXPECT_GE(at, last) << header << " out of order";
    last = at;
  }
}

}  // namespace
}  // namespace fornax::service_testing
