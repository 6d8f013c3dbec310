#include "server/scheduler.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

PendingJob Job(const std::string& id, int32_t priority, int64_t order, ResourceNeeds needs = {}) {
  PendingJob job;
  job.job_id = id;
  job.priority = priority;
  job.order = order;
  job.queued_ms = 0;
  job.needs = needs;
  return job;
}

WorkerSlots Worker(const std::string& id, ResourceNeeds capacity, int32_t slots) {
  return {id, capacity, capacity, slots};
}

std::vector<std::string> PlacedJobs(const Schedule& s) {
  std::vector<std::string> ids;
  for (const Placement& p : s.placements) ids.push_back(p.job_id + "@" + p.worker_id);
  return ids;
}

std::string ReasonOf(const Schedule& s, const std::string& job_id) {
  for (const Waiting& w : s.waiting) {
    if (w.job_id == job_id) return w.reason;
  }
  return "";
}

TEST(Scheduler, HigherPriorityFirstThenFifo) {
  std::vector<PendingJob> jobs = {Job("a", 0, 1), Job("b", 5, 2), Job("c", 5, 3), Job("d", 1, 4)};
  Schedule s = PlanSchedule(jobs, {Worker("w1", {0, 0, 4}, 3)}, 0, {});
  EXPECT_THAT(PlacedJobs(s), ElementsAre("b@w1", "c@w1", "d@w1"));
  EXPECT_THAT(ReasonOf(s, "a"), HasSubstr("no free job slot on 1 worker"));
}

TEST(Scheduler, ResourceFitAndReasons) {
  ResourceNeeds gpu_job{1, 0, 1};
  std::vector<WorkerSlots> workers = {Worker("cpu1", {0, 8 << 20, 4}, 2),
                                      Worker("cpu2", {0, 8 << 20, 4}, 2)};
  Schedule s =
      PlanSchedule({Job("g", 0, 1, gpu_job), Job("c", 0, 2, {0, 1 << 20, 2})}, workers, 0, {});
  EXPECT_THAT(PlacedJobs(s), ElementsAre("c@cpu1"));
  EXPECT_EQ(ReasonOf(s, "g"), "waiting: needs 1 gpu, no worker has that many (largest: 0)");

  workers.push_back(Worker("gpu", {1, 8 << 20, 4}, 2));
  workers.back().free.gpus = 0;  // its gpu is busy
  s = PlanSchedule({Job("g", 0, 1, gpu_job)}, workers, 0, {});
  EXPECT_TRUE(s.placements.empty());
  EXPECT_EQ(ReasonOf(s, "g"), "waiting: needs 1 gpu, 0 free on 3 workers");

  s = PlanSchedule({Job("m", 0, 1, {0, 6 << 20, 1}), Job("m2", 0, 2, {0, 6 << 20, 1})},
                   {Worker("w", {0, 8 << 20, 4}, 4)}, 0, {});
  EXPECT_THAT(PlacedJobs(s), ElementsAre("m@w"));
  EXPECT_THAT(ReasonOf(s, "m2"), HasSubstr("bytes of memory, 2097152 free on 1 worker"));
  EXPECT_EQ(ReasonOf(PlanSchedule({Job("x", 0, 1)}, {}, 0, {}), "x"),
            "waiting: no workers registered");
}

TEST(Scheduler, PrefersTheSmallestFittingWorker) {
  std::vector<WorkerSlots> workers = {Worker("big", {2, 0, 8}, 4), Worker("small", {0, 0, 8}, 4)};
  Schedule s = PlanSchedule({Job("cpu", 0, 1), Job("gpu", 0, 2, {2, 0, 0})}, workers, 0, {});
  EXPECT_THAT(PlacedJobs(s), ElementsAre("cpu@small", "gpu@big"));
}

TEST(Scheduler, BlockedJobReservesAWorkerSoItIsNotStarved) {
  // w has 2 cpus, 1 busy. "big" needs 2: it waits and reserves w, so the
  // small job behind it does not take the last cpu.
  std::vector<WorkerSlots> workers = {Worker("w", {0, 0, 2}, 4)};
  workers[0].free.cpus = 1;
  Schedule s =
      PlanSchedule({Job("big", 5, 1, {0, 0, 2}), Job("small", 0, 2, {0, 0, 1})}, workers, 0, {});
  EXPECT_TRUE(s.placements.empty());
  EXPECT_THAT(ReasonOf(s, "small"), HasSubstr("reserved for a job ahead"));
  // A job that fits no worker at all reserves nothing.
  s = PlanSchedule({Job("huge", 5, 1, {0, 0, 64}), Job("small", 0, 2, {0, 0, 1})}, workers, 0, {});
  EXPECT_THAT(PlacedJobs(s), ElementsAre("small@w"));
}

TEST(Scheduler, AgingLetsOldLowPriorityJobsOvertake) {
  SchedulerOptions options;
  options.aging_interval_ms = 1000;
  PendingJob old_low = Job("old", 0, 1);
  old_low.queued_ms = 0;
  PendingJob new_high = Job("new", 3, 2);
  new_high.queued_ms = 9000;
  EXPECT_EQ(EffectivePriority(old_low, 10000, options), 10);
  EXPECT_EQ(EffectivePriority(new_high, 10000, options), 4);
  Schedule s = PlanSchedule({new_high, old_low}, {Worker("w", {0, 0, 1}, 1)}, 10000, options);
  EXPECT_THAT(PlacedJobs(s), ElementsAre("old@w"));
  // Earlier, before the old job aged past it, the high-priority job wins.
  new_high.queued_ms = 2000;
  s = PlanSchedule({new_high, old_low}, {Worker("w", {0, 0, 1}, 1)}, 2000, options);
  EXPECT_THAT(PlacedJobs(s), ElementsAre("new@w"));
}

TEST(Scheduler, BackoffDelaysRetries) {
  PendingJob retry = Job("r", 9, 1);
  retry.not_before_ms = 5000;
  Schedule s = PlanSchedule({retry, Job("b", 0, 2)}, {Worker("w", {0, 0, 1}, 1)}, 4000, {});
  EXPECT_THAT(PlacedJobs(s), ElementsAre("b@w"));
  EXPECT_EQ(ReasonOf(s, "r"), "waiting: retry backoff, 1000 ms left");
  s = PlanSchedule({retry}, {Worker("w", {0, 0, 1}, 1)}, 5000, {});
  EXPECT_THAT(PlacedJobs(s), ElementsAre("r@w"));

  EXPECT_EQ(RetryBackoffMs(1, 1000, 60000), 1000);
  EXPECT_EQ(RetryBackoffMs(2, 1000, 60000), 2000);
  EXPECT_EQ(RetryBackoffMs(4, 1000, 60000), 8000);
  EXPECT_EQ(RetryBackoffMs(30, 1000, 60000), 60000);
}

}  // namespace
}  // namespace fornax::server
