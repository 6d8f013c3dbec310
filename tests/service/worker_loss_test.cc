// M1-3 acceptance 2: kill -9 of a worker mid-job. The coordinator notices
// within the lease timeout, requeues the job, the other worker resumes it from
// its last checkpoint (taken mid-epoch when the kill came in time), at the
// step after it, and it ends with exactly the weights (and optimizer state)
// of the same job run without interruption.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/archive/keras_archive.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

constexpr int kLeaseTimeoutMs = 3000;
constexpr int64_t kStepsPerEpoch = 128;  // JobOptions::Long
constexpr int64_t kCheckpointEverySteps = 100;

// Every variable of the archive (layers' and optimizer's), by h5 path.
std::map<std::string, std::string> Variables(const std::string& path) {
  std::map<std::string, std::string> vars;
  absl::StatusOr<KerasArchive> archive = ReadKerasArchive(path);
  EXPECT_TRUE(archive.ok()) << archive.status();
  if (!archive.ok()) return vars;
  std::vector<std::string> groups = {"optimizer/vars"};
  for (const char* layer : {"layers/dense/vars", "layers/dense_1/vars"}) groups.push_back(layer);
  for (const std::string& group : groups) {
    const int64_t n = archive->weights->CountMembers(group);
    EXPECT_GT(n, 0) << path << " has no " << group;
    for (int64_t i = 0; i < n; ++i) {
      const std::string name = absl::StrCat(group, "/", i);
      absl::StatusOr<Tensor> t = archive->weights->ReadDataset(name);
      EXPECT_TRUE(t.ok()) << t.status();
      if (t.ok()) {
        vars[name] = std::string(static_cast<const char*>(t->raw_data()), t->byte_size());
      }
    }
  }
  return vars;
}

TEST_F(ServiceTest, KilledWorkersJobResumesFromCheckpointWithIdenticalWeights) {
  TwoWorkers cluster;
  ASSERT_NO_FATAL_FAILURE(StartTwoWorkers(kLeaseTimeoutMs, cluster));
  const std::unique_ptr<Daemon>& coordinator = cluster.coordinator;
  std::map<std::string, std::unique_ptr<Daemon>>& workers = cluster.workers;
  ServiceClient client(coordinator->grpc_address());

  JobOptions options = JobOptions::Long(30);
  options.seed = 3;
  options.name = "interrupted";
  // Checkpoints every 100 steps too, so most of them are taken mid-epoch.
  v1::JobSpec interrupted_spec = Spec(options, coordinator->grpc_address());
  interrupted_spec.set_checkpoint_every_steps(kCheckpointEverySteps);
  absl::StatusOr<v1::Job> interrupted = client.Submit(interrupted_spec);
  ASSERT_TRUE(interrupted.ok()) << interrupted.status();
  options.name = "straight";
  absl::StatusOr<v1::Job> straight = client.Submit(Spec(options, coordinator->grpc_address()));
  ASSERT_TRUE(straight.ok()) << straight.status();
  const std::string id = interrupted->job_id();

  // Mid-job: three epochs done, more to go, and the last checkpoint taken
  // mid-epoch (a later one may still come before the kill).
  absl::StatusOr<v1::Job> running = WaitForJob(
      client, id,
      [](const v1::Job& j) {
        return (j.epoch() >= 3 && j.global_step() % kStepsPerEpoch != 0) || Ended(j);
      },
      absl::Seconds(90));
  ASSERT_TRUE(running.ok()) << running.status();
  ASSERT_EQ(running->state(), v1::JOB_STATE_RUNNING) << running->ShortDebugString();
  const std::string victim = running->worker_id();
  ASSERT_EQ(workers.count(victim), 1u) << victim;
  const std::vector<pid_t> job_processes = ChildPids(workers[victim]->pid());
  workers[victim]->Kill();
  const absl::Time killed = absl::Now();

  absl::StatusOr<v1::Job> requeued = WaitForJob(
      client, id, [](const v1::Job& j) { return j.attempt() >= 1 || Ended(j); }, absl::Seconds(15));
  ASSERT_TRUE(requeued.ok()) << "not requeued within 15 s: " << requeued.status();
  const absl::Duration detect = absl::Now() - killed;
  EXPECT_LE(detect, absl::Milliseconds(kLeaseTimeoutMs + 3000));
  std::cerr << "requeued " << absl::FormatDuration(detect) << " after kill -9 (lease timeout "
            << kLeaseTimeoutMs << " ms)\n";

  std::vector<v1::Job> ended =
      WaitForAllEnded(client, {id, straight->job_id()}, absl::Seconds(120));
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[0].state(), v1::JOB_STATE_SUCCEEDED) << ended[0].ShortDebugString();
  EXPECT_EQ(ended[1].state(), v1::JOB_STATE_SUCCEEDED) << ended[1].ShortDebugString();
  EXPECT_EQ(ended[0].attempt(), 1);
  EXPECT_NE(ended[0].worker_id(), victim);
  EXPECT_EQ(ended[0].epoch(), options.epochs);

  // The second attempt started where the last checkpoint left off: its
  // first step is the one after the checkpoint's (within its epoch too), its
  // first epoch event is for the epoch the checkpoint was in, and no epoch is
  // missing.
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(client.Watch(id, 0, false, &events).ok());
  EXPECT_EQ(SequenceProblems(events), "");
  int attempt = 0, checkpointed = 0, resumed_at = -1;
  int64_t checkpoint_step = 0;
  std::optional<v1::StepMetrics> first_step;
  std::set<int> epochs;
  for (const v1::JobEvent& e : events) {
    if (e.has_state()) attempt = e.state().attempt();
    if (e.has_checkpoint() && attempt == 0) {
      checkpointed = e.checkpoint().epoch();
      checkpoint_step = e.checkpoint().global_step();
    }
    if (e.has_step() && attempt == 1 && !first_step) first_step = e.step();
    if (e.has_epoch()) {
      epochs.insert(e.epoch().epoch());
      if (attempt == 1 && resumed_at < 0) resumed_at = e.epoch().epoch();
    }
  }
  EXPECT_GE(checkpointed, 3);
  EXPECT_EQ(resumed_at, checkpointed) << "attempt 1 did not resume from epoch " << checkpointed;
  EXPECT_EQ(epochs.size(), static_cast<size_t>(options.epochs));
  ASSERT_TRUE(first_step.has_value());
  EXPECT_EQ(first_step->global_step(), checkpoint_step + 1);
  EXPECT_EQ(first_step->epoch(), checkpoint_step / kStepsPerEpoch);
  EXPECT_EQ(first_step->step(), checkpoint_step % kStepsPerEpoch + 1);
  std::cerr << "resumed from the checkpoint at global step " << checkpoint_step << " (step "
            << checkpoint_step % kStepsPerEpoch << " of epoch " << checkpoint_step / kStepsPerEpoch
            << ")\n";

  // Final weights and optimizer state: bit-identical to the straight run.
  for (const auto& [job_id, file] : {std::pair{id, Path("interrupted.keras")},
                                     std::pair{straight->job_id(), Path("straight.keras")}}) {
    absl::StatusOr<std::string> bytes = client.Download(job_id);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    std::ofstream(file, std::ios::binary) << *bytes;
  }
  const std::map<std::string, std::string> a = Variables(Path("interrupted.keras"));
  const std::map<std::string, std::string> b = Variables(Path("straight.keras"));
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) EXPECT_TRUE(bytes == b.at(name)) << name << " differs";

  // The dead worker's job process must not train on as an orphan.
  for (pid_t pid : job_processes) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (ProcessAlive(pid) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
    EXPECT_FALSE(ProcessAlive(pid)) << "job process " << pid << " outlived its worker";
    if (ProcessAlive(pid)) kill(pid, SIGKILL);
  }
}

// The default lease (10 s): a worker killed mid-job is noticed, and its job
// requeued, within 15 s, not sooner than the lease allows; `fornax workers`
// shows it down.
TEST_F(ServiceTest, DefaultLeaseNoticesALostWorkerWithin15Seconds) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator(0, /*lease_timeout_ms=*/0);
  ASSERT_NE(coordinator, nullptr);
  ServiceClient client(coordinator->grpc_address());
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);
  JobOptions options = JobOptions::Long(500);
  absl::StatusOr<v1::Job> job = client.Submit(Spec(options, coordinator->grpc_address()));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(WaitForJob(
                  client, job->job_id(),
                  [](const v1::Job& j) { return j.epoch() >= 1 || Ended(j); }, absl::Seconds(60))
                  .ok());
  worker->Kill();
  const absl::Time killed = absl::Now();
  absl::StatusOr<v1::Job> requeued = WaitForJob(
      client, job->job_id(), [](const v1::Job& j) { return j.state() != v1::JOB_STATE_RUNNING; },
      absl::Seconds(15));
  ASSERT_TRUE(requeued.ok()) << "not requeued within 15 s: " << requeued.status();
  const absl::Duration detect = absl::Now() - killed;
  EXPECT_EQ(requeued->state(), v1::JOB_STATE_QUEUED) << requeued->ShortDebugString();
  EXPECT_GE(detect, absl::Seconds(8)) << "lost before the 10 s default lease ran out";
  std::cerr << "default lease: requeued " << absl::FormatDuration(detect) << " after kill -9\n";
  CliResult workers = RunCli(coordinator->grpc_address(), {"workers"});
  EXPECT_EQ(workers.exit_code, 0) << workers.err;
  EXPECT_THAT(workers.out, ::testing::HasSubstr("down")) << workers.out;
}

}  // namespace
}  // namespace fornax::service_testing
