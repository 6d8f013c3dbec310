// Which queued job runs where: pure logic, no clocks, no I/O, no locks.
//
// Rules (docs/coordinator.md, "Scheduling"):
// - Jobs are considered by effective priority (highest first), then submit
//   order (FIFO). Effective priority = priority + whole `aging_interval_ms`
//   periods waited, so a low-priority job eventually outranks a stream of
//   newer high-priority ones: nothing starves.
// - A job runs on a worker whose free resources cover its needs (gpus,
//   memory, cpus; 0 = no need) and that has a free slot. Among fitting
//   workers the one with the fewest free gpus, then least free memory, wins
//   (keeps big workers free for big jobs).
// - A job that fits some worker's capacity but not its free resources now
//   reserves that worker: jobs behind it may not take it, so big jobs are not
//   starved by a stream of small ones.
// - A job in retry backoff (not_before_ms > now) is skipped.
// - Every job not placed gets a readable reason, e.g.
//   "waiting: needs 1 gpu, 0 free on 2 workers".
// Thread-safety: free functions.
#ifndef FORNAX_SERVER_SCHEDULER_H_
#define FORNAX_SERVER_SCHEDULER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fornax::server {

struct ResourceNeeds {
  int32_t gpus = 0;
  int64_t memory_bytes = 0;
  int32_t cpus = 0;
};

struct PendingJob {
  std::string job_id;
  int32_t priority = 0;
  int64_t order = 0;          // submit order: FIFO within a priority
  int64_t queued_ms = 0;      // when it entered the queue (aging)
  int64_t not_before_ms = 0;  // retry backoff
  ResourceNeeds needs;
};

struct WorkerSlots {
  std::string worker_id;
  ResourceNeeds capacity;
  ResourceNeeds free;
  int32_t free_slots = 0;
};

struct SchedulerOptions {
  int64_t aging_interval_ms = 60000;  // +1 effective priority per interval waited
};

struct Placement {
  std::string job_id;
  std::string worker_id;
};

struct Waiting {
  std::string job_id;
  std::string reason;
};

struct Schedule {
  std::vector<Placement> placements;  // in the order they were decided
  std::vector<Waiting> waiting;       // every pending job not placed
};

int64_t EffectivePriority(const PendingJob& job, int64_t now_ms, const SchedulerOptions& options);

// Places `jobs` on `workers` at time `now_ms`.
Schedule PlanSchedule(std::vector<PendingJob> jobs, std::vector<WorkerSlots> workers,
                      int64_t now_ms, const SchedulerOptions& options);

// Retry backoff after the n-th failure (n >= 1): base * 2^(n-1), at most max.
int64_t RetryBackoffMs(int32_t failures, int64_t base_ms, int64_t max_ms);

}  // namespace fornax::server

#endif  // FORNAX_SERVER_SCHEDULER_H_
