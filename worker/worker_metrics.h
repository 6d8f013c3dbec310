// The worker's Prometheus metrics, served by prometheus-cpp on
// --metrics-listen at /metrics:
//   fornax_worker_jobs_running                 jobs whose process runs
//   fornax_job_step_seconds{job}               last step's time
//   fornax_job_samples_per_second{job}         last step's throughput
//   fornax_job_metric{job,metric}              last step's loss, accuracy, ...
//                                              (val_* from the last epoch)
//   fornax_job_retraces{job}                   traces of the job's trainer
//   fornax_checkpoint_bytes{job}               last checkpoint's size
//   fornax_checkpoint_duration_seconds         time to write one (histogram)
//   nv_inference_*{model,version}              hosted models (model_host.h)
// Per-job series of the 32 most recent jobs are kept; older ones are removed
// so a long-lived worker's scrape stays small.
// Thread-safety: all methods are safe to call concurrently.
#ifndef FORNAX_WORKER_WORKER_METRICS_H_
#define FORNAX_WORKER_WORKER_METRICS_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "proto/fornax/v1/common.pb.h"
#include "server/inference/metrics_exposer.h"

namespace fornax::worker {

class WorkerMetrics {
 public:
  // `listen` is HOST:PORT; port 0 picks a free one. Unavailable when it
  // cannot bind.
  static absl::StatusOr<std::unique_ptr<WorkerMetrics>> Start(const std::string& listen);
  ~WorkerMetrics();

  std::string address() const { return address_; }  // HOST:PORT bound
  // Others register their series here to appear on the same endpoint
  // (the model host's nv_inference_*).
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void SetJobsRunning(int n);
  void OnStep(const std::string& job, const fornax::v1::StepMetrics& step);
  void OnEpoch(const std::string& job, const fornax::v1::EpochMetrics& epoch, int retraces);
  void OnCheckpoint(const std::string& job, int64_t bytes, double seconds);

 private:
  WorkerMetrics();
  // Sets the job's series (under the lock, so a removal never races it);
  // a new job becomes the newest.
  void SetJobGauge(prometheus::Family<prometheus::Gauge>& family, const std::string& job,
                   double value, const std::map<std::string, std::string>& extra_labels = {});

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<serving::MetricsExposer> exposer_;
  std::string address_;
  prometheus::Gauge* jobs_running_;
  prometheus::Family<prometheus::Gauge>* step_seconds_;
  prometheus::Family<prometheus::Gauge>* samples_per_second_;
  prometheus::Family<prometheus::Gauge>* metric_;
  prometheus::Family<prometheus::Gauge>* retraces_;
  prometheus::Family<prometheus::Gauge>* checkpoint_bytes_;
  prometheus::Histogram* checkpoint_seconds_;

  std::mutex mu_;
  struct Series {
    prometheus::Family<prometheus::Gauge>* family;
    prometheus::Gauge* gauge;
  };
  std::map<std::string, std::vector<Series>> job_series_;
  std::deque<std::string> job_order_;  // oldest first
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_WORKER_METRICS_H_
