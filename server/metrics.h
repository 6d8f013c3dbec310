// The coordinator's Prometheus metrics (names fixed by the team's
// conventions; deploy/ dashboards use them):
//   fornax_jobs{state}                     gauge: jobs per state
//   fornax_queue_depth                     gauge: queued jobs
//   fornax_scheduling_latency_seconds      histogram: queued -> assigned
//   fornax_workers_up                      gauge
//   fornax_job_restarts_total{job}         counter
//   fornax_job_events_total                counter: events stored
//   fornax_checkpoint_bytes_total          counter: checkpoint bytes stored
//   fornax_job_metric{job,metric}          gauge: last finished epoch's metrics
//   fornax_deployments{state}              gauge: deployments per state
//   fornax_artifacts_swept_total           counter: stored files no record named, removed
//   fornax_artifact_swept_bytes_total      counter: their bytes
// Thread-safety: safe to call from any thread (prometheus-cpp is).
#ifndef FORNAX_SERVER_METRICS_H_
#define FORNAX_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "proto/fornax/v1/common.pb.h"
#include "proto/fornax/v1/deployments.pb.h"

namespace fornax::server {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // counts[state] for every JobState.
  void SetJobCounts(const std::array<int64_t, 6>& counts);
  void ObserveSchedulingLatency(double seconds) { scheduling_latency_.Observe(seconds); }
  void SetWorkersUp(int64_t n) { workers_up_.Set(static_cast<double>(n)); }
  void CountRestart(const std::string& job_id);
  void CountEvents(int64_t n) { events_.Increment(static_cast<double>(n)); }
  void CountCheckpointBytes(int64_t n) { checkpoint_bytes_.Increment(static_cast<double>(n)); }
  void SetJobMetrics(const std::string& job_id, const v1::Metrics& metrics);
  // counts[state] for every DeploymentState.
  void SetDeploymentCounts(const std::array<int64_t, 5>& counts);
  void CountSwept(int64_t files, int64_t bytes) {
    swept_files_.Increment(static_cast<double>(files));
    swept_bytes_.Increment(static_cast<double>(bytes));
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Gauge& queue_depth_;
  prometheus::Histogram& scheduling_latency_;
  prometheus::Gauge& workers_up_;
  prometheus::Family<prometheus::Counter>& restarts_;
  prometheus::Counter& events_;
  prometheus::Counter& checkpoint_bytes_;
  prometheus::Family<prometheus::Gauge>& job_metric_;
  prometheus::Family<prometheus::Gauge>& deployments_;
  prometheus::Counter& swept_files_;
  prometheus::Counter& swept_bytes_;
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_METRICS_H_
