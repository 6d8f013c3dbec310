#include "server/scheduler.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace fornax::server {
namespace {

bool Covers(const ResourceNeeds& have, const ResourceNeeds& need) {
  return have.gpus >= need.gpus && have.memory_bytes >= need.memory_bytes && have.cpus >= need.cpus;
}

std::string Plural(int64_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

// "needs 1 gpu, 0 free on 2 workers": the first resource no worker has free.
std::string WaitReason(const PendingJob& job, const std::vector<WorkerSlots>& workers) {
  if (workers.empty()) return "waiting: no workers registered";
  const ResourceNeeds& need = job.needs;
  bool fits_capacity = false;
  for (const WorkerSlots& w : workers) fits_capacity |= Covers(w.capacity, need);
  const std::string on = absl::StrCat(" on ", Plural(workers.size(), "worker", "workers"));
  if (!fits_capacity) {
    int32_t gpus = 0, cpus = 0;
    int64_t memory = 0;
    for (const WorkerSlots& w : workers) {
      gpus = std::max(gpus, w.capacity.gpus);
      cpus = std::max(cpus, w.capacity.cpus);
      memory = std::max(memory, w.capacity.memory_bytes);
    }
    if (need.gpus > gpus) {
      return absl::StrCat("waiting: needs ", Plural(need.gpus, "gpu", "gpus"),
                          ", no worker has that many (largest: ", gpus, ")");
    }
    if (need.cpus > cpus) {
      return absl::StrCat("waiting: needs ", Plural(need.cpus, "cpu", "cpus"),
                          ", no worker has that many (largest: ", cpus, ")");
    }
    return absl::StrCat("waiting: needs ", need.memory_bytes,
                        " bytes of memory, no worker has that much (largest: ", memory, ")");
  }
  int32_t gpus = 0, cpus = 0, slots = 0;
  int64_t memory = 0;
  for (const WorkerSlots& w : workers) {
    gpus = std::max(gpus, w.free.gpus);
    cpus = std::max(cpus, w.free.cpus);
    memory = std::max(memory, w.free.memory_bytes);
    slots += w.free_slots;
  }
  if (need.gpus > gpus) {
    return absl::StrCat("waiting: needs ", Plural(need.gpus, "gpu", "gpus"), ", ", gpus, " free",
                        on);
  }
  if (need.cpus > cpus) {
    return absl::StrCat("waiting: needs ", Plural(need.cpus, "cpu", "cpus"), ", ", cpus, " free",
                        on);
  }
  if (need.memory_bytes > memory) {
    return absl::StrCat("waiting: needs ", need.memory_bytes, " bytes of memory, ", memory, " free",
                        on);
  }
  if (slots == 0) return absl::StrCat("waiting: no free job slot", on);
  return absl::StrCat("waiting: resources reserved for a job ahead in the queue", on);
}

}  // namespace

int64_t EffectivePriority(const PendingJob& job, int64_t now_ms, const SchedulerOptions& options) {
  const int64_t waited = std::max<int64_t>(0, now_ms - job.queued_ms);
  const int64_t boost = options.aging_interval_ms > 0 ? waited / options.aging_interval_ms : 0;
  return job.priority + boost;
}

Schedule PlanSchedule(std::vector<PendingJob> jobs, std::vector<WorkerSlots> workers,
                      int64_t now_ms, const SchedulerOptions& options) {
  std::stable_sort(jobs.begin(), jobs.end(), [&](const PendingJob& a, const PendingJob& b) {
    return std::make_tuple(-EffectivePriority(a, now_ms, options), a.order) <
           std::make_tuple(-EffectivePriority(b, now_ms, options), b.order);
  });
  std::vector<bool> reserved(workers.size(), false);
  Schedule schedule;
  for (const PendingJob& job : jobs) {
    if (job.not_before_ms > now_ms) {
      schedule.waiting.push_back(
          {job.job_id,
           absl::StrCat("waiting: retry backoff, ", (job.not_before_ms - now_ms), " ms left")});
      continue;
    }
    int best = -1;
    for (size_t i = 0; i < workers.size(); ++i) {
      const WorkerSlots& w = workers[i];
      if (reserved[i] || w.free_slots <= 0 || !Covers(w.free, job.needs)) continue;
      if (best < 0 || std::make_tuple(w.free.gpus, w.free.memory_bytes, w.worker_id) <
                          std::make_tuple(workers[best].free.gpus, workers[best].free.memory_bytes,
                                          workers[best].worker_id)) {
        best = static_cast<int>(i);
      }
    }
    if (best >= 0) {
      WorkerSlots& w = workers[best];
      w.free.gpus -= job.needs.gpus;
      w.free.memory_bytes -= job.needs.memory_bytes;
      w.free.cpus -= job.needs.cpus;
      w.free_slots -= 1;
      schedule.placements.push_back({job.job_id, w.worker_id});
      continue;
    }
    schedule.waiting.push_back({job.job_id, WaitReason(job, workers)});
    // Reserve the first unreserved worker whose capacity fits it, so the
    // jobs behind it cannot keep it busy forever.
    for (size_t i = 0; i < workers.size(); ++i) {
      if (!reserved[i] && Covers(workers[i].capacity, job.needs)) {
        reserved[i] = true;
        break;
      }
    }
  }
  return schedule;
}

int64_t RetryBackoffMs(int32_t failures, int64_t base_ms, int64_t max_ms) {
  int64_t backoff = base_ms;
  for (int32_t i = 1; i < failures && backoff < max_ms; ++i) backoff *= 2;
  return std::min(backoff, max_ms);
}

}  // namespace fornax::server
