// Per (model, version) inference statistics, kept twice with the same
// meanings as Triton's: as Prometheus metrics (InferenceMetrics, labelled
// model and version) and as counters for the ModelStatistics RPC.
//
//   nv_inference_request_success / _failure  requests (a failure: rejected
//                                             input or a failed engine call)
//   nv_inference_count                        inferences (rows) run
//   nv_inference_exec_count                   engine calls (batches)
//   nv_inference_request_duration_us          cumulative, per successful request
//   nv_inference_queue_duration_us            cumulative queue wait
//   nv_inference_compute_infer_duration_us    cumulative engine time per request
//   fornax_inference_batch_size               histogram of rows per engine call
// nv_inference_count / nv_inference_exec_count is the average batch size.
// Thread-safety: all methods may be called concurrently.
#ifndef FORNAX_SERVER_INFERENCE_MODEL_STATS_H_
#define FORNAX_SERVER_INFERENCE_MODEL_STATS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "proto/inference/grpc_service.pb.h"
#include "server/inference/dynamic_batcher.h"

namespace fornax::serving {

class ModelStats;

// The metric families, registered once per server.
class InferenceMetrics {
 public:
  explicit InferenceMetrics(prometheus::Registry& registry);
  // Stats for one served version; metrics of a (model, version) seen before
  // continue counting from where they were.
  std::unique_ptr<ModelStats> ForModel(const std::string& model, int64_t version);

 private:
  friend class ModelStats;
  prometheus::Family<prometheus::Counter>& success_;
  prometheus::Family<prometheus::Counter>& failure_;
  prometheus::Family<prometheus::Counter>& count_;
  prometheus::Family<prometheus::Counter>& exec_count_;
  prometheus::Family<prometheus::Counter>& request_us_;
  prometheus::Family<prometheus::Counter>& queue_us_;
  prometheus::Family<prometheus::Counter>& compute_us_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
};

class ModelStats {
 public:
  ModelStats(InferenceMetrics& metrics, const std::string& model, int64_t version);

  void RecordSuccess(int64_t request_ns, const RequestTiming& timing, int64_t rows);
  void RecordFailure(int64_t request_ns);
  void RecordExecution(const ExecutionInfo& execution);
  // Fills inference_count, execution_count, last_inference and the durations.
  void Fill(inference::ModelStatistics* stats) const;

 private:
  struct Duration {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> ns{0};
    void Add(int64_t nanos);
    void Fill(inference::StatisticDuration* out) const;
  };
  prometheus::Counter& success_;
  prometheus::Counter& failure_;
  prometheus::Counter& count_;
  prometheus::Counter& exec_count_;
  prometheus::Counter& request_us_;
  prometheus::Counter& queue_us_;
  prometheus::Counter& compute_us_;
  prometheus::Histogram& batch_size_;
  Duration success_ns_, failure_ns_, queue_ns_, compute_ns_;
  std::atomic<uint64_t> inference_count_{0};
  std::atomic<uint64_t> execution_count_{0};
  std::atomic<uint64_t> last_inference_ms_{0};
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_MODEL_STATS_H_
