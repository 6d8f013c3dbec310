// M1-3 acceptance 1: one coordinator, two workers, eight jobs of mixed
// priorities submitted before any worker exists. All succeed, higher
// priorities start first (FIFO within a priority), and `fornax logs -f`,
// started while the jobs wait, shows each job's whole metric stream in order.
#include <algorithm>
#include <cstdio>
#include <future>
#include <map>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::IsEmpty;
using ::testing::Not;

constexpr int kEpochs = 3;

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
    JobOptions options;
    options.name = absl::StrCat("prio", priorities[i], "-", i);
    options.priority = priorities[i];
    options.epochs = kEpochs;
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

  // Start order: by priority, then submit order.
  std::sort(jobs.begin(), jobs.end(), [](const v1::Job& a, const v1::Job& b) {
    return Millis(a.start_time()) < Millis(b.start_time());
  });
  for (size_t i = 1; i < jobs.size(); ++i) {
    const std::string& prev = jobs[i - 1].job_id();
    const std::string& cur = jobs[i].job_id();
    EXPECT_TRUE(priority_of[prev] > priority_of[cur] ||
                (priority_of[prev] == priority_of[cur] && submit_index[prev] < submit_index[cur]))
        << "job " << cur << " (priority " << priority_of[cur] << ", submitted #"
        << submit_index[cur] << ") started after " << prev << " (priority " << priority_of[prev]
        << ", #" << submit_index[prev] << ")";
  }

  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    // The event log: sequences 1..N, every epoch once, steps in order.
    std::vector<v1::JobEvent> events;
    ASSERT_TRUE(client.Watch(id, 0, false, &events).ok()) << id;
    EXPECT_EQ(SequenceProblems(events), "") << id;
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
    EXPECT_EQ(epochs, std::vector<int>({0, 1, 2})) << id;
    ASSERT_EQ(losses.size(), static_cast<size_t>(kEpochs));

    // `fornax logs -f`: every epoch once, in order, with the loss it had.
    CliResult r = logs[i].get();
    EXPECT_EQ(r.exit_code, 0) << id << "\n" << r.out << r.err;
    size_t at = 0;
    for (int epoch = 1; epoch <= kEpochs; ++epoch) {
      const std::string header = absl::StrCat("Epoch ", epoch, "/", kEpochs);
      const size_t found = r.out.find(header, at);
      ASSERT_NE(found, std::string::npos)
          << id << ": no '" << header << "' after offset " << at << " in:\n"
          << r.out;
      EXPECT_EQ(r.out.find(header, found + 1), std::string::npos) << header << " twice:\n" << r.out;
      const size_t next = r.out.find("Epoch ", found + header.size());
      const std::string section = r.out.substr(found, next - found);
      EXPECT_THAT(section, ::testing::HasSubstr("loss: " + Shown(losses[epoch - 1])))
          << id << " epoch " << epoch;
      at = found + header.size();
    }
  }
}

}  // namespace
}  // namespace fornax::service_testing
