// M1-3 acceptance 1: one coordinator, two workers, eight jobs of mixed
// priorities submitted before any worker exists. All succeed, higher
// priorities start first (FIFO within a priority), and `fornax logs -f`,
// started while the jobs wait, shows each job's whole metric stream in order.
#include <algorithm>
#include <cstdio>
#include <future>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::IsEmpty;
using ::testing::Not;

constexpr int kEpochs = 5;

int64_t Millis(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

// "0.4101": the progress bar's spelling of a metric value.
std::string Shown(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), std::abs(v) <= 1e-3 ? "%.4e" : "%.4f", v);
  return buf;
}

TEST_F(ServiceTest, EightJobsTwoWorkersPriorityOrderAndFullLogs) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  ServiceClient client(coordinator->grpc_address());

  const int priorities[8] = {0, 5, 1, 5, 0, 9, 1, 9};
  std::vector<std::string> ids;
  std::map<std::string, int> priority_of, submit_index;
  for (int i = 0; i < 8; ++i) {
    JobOptions options = JobOptions::Long(kEpochs);  // over a second each
    options.hidden = 256;
    options.name = absl::StrCat("prio", priorities[i], "-", i);
    options.priority = priorities[i];
    options.seed = i;
    absl::StatusOr<v1::Job> job = client.Submit(Spec(options, coordinator->grpc_address()));
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->state(), v1::JOB_STATE_QUEUED);
    ids.push_back(job->job_id());
    priority_of[job->job_id()] = priorities[i];
    submit_index[job->job_id()] = i;
  }
  // No worker yet: every job waits, and says why.
  for (const std::string& id : ids) {
    absl::StatusOr<v1::Job> job = client.Get(id);
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->state(), v1::JOB_STATE_QUEUED);
    EXPECT_THAT(job->reason(), Not(IsEmpty())) << id;
  }

  // One `fornax logs -f` per job, following from before the job starts.
  std::vector<std::future<CliResult>> logs;
  for (const std::string& id : ids) {
    logs.push_back(std::async(std::launch::async, [this, &coordinator, id] {
      return RunCli(coordinator->grpc_address(), {"logs", "-f", id});
    }));
  }
  // And a gRPC watcher per job: one live stream each, from before the start.
  std::vector<std::unique_ptr<JobWatcher>> watchers;
  for (const std::string& id : ids) {
    watchers.push_back(std::make_unique<JobWatcher>(coordinator->grpc_address(), id));
  }
  std::unique_ptr<Daemon> w1 = StartWorker("w1", *coordinator);
  std::unique_ptr<Daemon> w2 = StartWorker("w2", *coordinator);
  ASSERT_NE(w1, nullptr);
  ASSERT_NE(w2, nullptr);

  std::vector<v1::Job> jobs = WaitForAllEnded(client, ids, absl::Seconds(150));
  std::map<std::string, int> ran_on;
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.ShortDebugString();
    EXPECT_EQ(job.epoch(), kEpochs) << job.job_id();
    ++ran_on[job.worker_id()];
  }
  EXPECT_EQ(ran_on.size(), 2u) << "both workers take jobs";

  // Start order: by priority, then submit order. Job.start_time is compared
  // only where it differs (the coordinator stores whole seconds today; each
  // job runs over a second, so consecutive rounds land in different ones).
  for (const v1::Job& a : jobs) {
    for (const v1::Job& b : jobs) {
      if (Millis(a.start_time()) >= Millis(b.start_time())) continue;
      const std::string& x = a.job_id();
      const std::string& y = b.job_id();
      EXPECT_TRUE(priority_of[x] > priority_of[y] ||
                  (priority_of[x] == priority_of[y] && submit_index[x] < submit_index[y]))
          << "job " << y << " (priority " << priority_of[y] << ", submitted #" << submit_index[y]
          << ") started at " << Millis(b.start_time()) << " ms, after " << x << " (priority "
          << priority_of[x] << ", #" << submit_index[x] << ") at " << Millis(a.start_time());
    }
  }
  std::set<int64_t> distinct_starts;
  for (const v1::Job& job : jobs) distinct_starts.insert(Millis(job.start_time()));
  EXPECT_GE(distinct_starts.size(), 3u) << "too few distinct start times to check the order";

  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    // The event log: sequences 1..N, every epoch once, steps in order; the
    // live stream saw the same events as a replay, and ended with the job.
    std::vector<v1::JobEvent> events;
    ASSERT_TRUE(client.Watch(id, 0, false, &events).ok()) << id;
    EXPECT_EQ(SequenceProblems(events), "") << id;
    const std::vector<v1::JobEvent>& live = watchers[i]->Finish(absl::Seconds(30));
    EXPECT_TRUE(watchers[i]->done()) << id << ": the live stream never delivered the end";
    EXPECT_EQ(watchers[i]->stuck_windows(), 0) << id << ": the live stream outlived the job";
    EXPECT_EQ(live.size(), events.size()) << id;
    EXPECT_EQ(SequenceProblems(live), "") << id;
    absl::StatusOr<v1::Job> job = client.Get(id);
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(static_cast<int64_t>(events.size()), job->last_sequence()) << id;
    std::vector<int> epochs;
    std::vector<double> losses;
    int64_t last_step = 0;
    for (const v1::JobEvent& e : events) {
      if (e.has_epoch()) {
        epochs.push_back(e.epoch().epoch());
        losses.push_back(e.epoch().metrics().values().at("loss"));
      }
      if (e.has_step()) {
        EXPECT_GT(e.step().global_step(), last_step) << id << " " << e.ShortDebugString();
        last_step = e.step().global_step();
      }
    }
    EXPECT_EQ(epochs, std::vector<int>({0, 1, 2, 3, 4})) << id;
    ASSERT_EQ(losses.size(), static_cast<size_t>(kEpochs));

    // `fornax logs -f`: every epoch's header line once, in order, and before
    // the next one a line with the loss the epoch ended with.
    CliResult r = logs[i].get();
    EXPECT_EQ(r.exit_code, 0) << id << "\n" << r.out << r.err;
    const std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
    std::vector<size_t> headers;
    for (int epoch = 1; epoch <= kEpochs; ++epoch) {
      const std::string header = absl::StrCat("Epoch ", epoch, "/", kEpochs);
      const size_t n = std::count(lines.begin(), lines.end(), header);
      EXPECT_EQ(n, 1u) << id << ": '" << header << "' " << n << " times in:\n" << r.out;
      headers.push_back(std::find(lines.begin(), lines.end(), header) - lines.begin());
    }
    EXPECT_TRUE(std::is_sorted(headers.begin(), headers.end())) << r.out;
    headers.push_back(lines.size());
    for (int epoch = 0; epoch < kEpochs && headers[epoch] < lines.size(); ++epoch) {
      const std::string loss = "loss: " + Shown(losses[epoch]);
      bool shown = false;
      for (size_t l = headers[epoch]; l < headers[epoch + 1]; ++l) {
        shown = shown || lines[l].find(loss) != std::string::npos;
      }
      EXPECT_TRUE(shown) << id << " epoch " << epoch + 1 << ": no '" << loss << "' in:\n" << r.out;
    }
  }
}

}  // namespace
}  // namespace fornax::service_testing
