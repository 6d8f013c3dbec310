#include "server/inference/model_stats.h"

#include <chrono>

namespace fornax::serving {
namespace {

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

std::map<std::string, std::string> Labels(const std::string& model, int64_t version) {
  return {{"model", model}, {"version", std::to_string(version)}};
}

}  // namespace

InferenceMetrics::InferenceMetrics(prometheus::Registry& registry)
    : success_(CounterFamily(registry, "nv_inference_request_success",
                             "Number of successful inference requests")),
      failure_(CounterFamily(registry, "nv_inference_request_failure",
                             "Number of failed inference requests")),
      count_(CounterFamily(registry, "nv_inference_count",
                           "Number of inferences performed (rows; a batch of n counts n)")),
      exec_count_(CounterFamily(registry, "nv_inference_exec_count",
                                "Number of model executions (batches) performed")),
      request_us_(CounterFamily(registry, "nv_inference_request_duration_us",
                                "Cumulative end-to-end inference request handling time")),
      queue_us_(CounterFamily(registry, "nv_inference_queue_duration_us",
                              "Cumulative time requests spend waiting in the queue")),
      compute_us_(CounterFamily(registry, "nv_inference_compute_infer_duration_us",
                                "Cumulative time requests spend executing the model")),
      batch_size_(prometheus::BuildHistogram()
                      .Name("fornax_inference_batch_size")
                      .Help("Rows per model execution (dynamic batching merges requests)")
                      .Register(registry)) {}

std::unique_ptr<ModelStats> InferenceMetrics::ForModel(const std::string& model, int64_t version) {
  return std::make_unique<ModelStats>(*this, model, version);
}

ModelStats::ModelStats(InferenceMetrics& metrics, const std::string& model, int64_t version)
    : success_(metrics.success_.Add(Labels(model, version))),
      failure_(metrics.failure_.Add(Labels(model, version))),
      count_(metrics.count_.Add(Labels(model, version))),
      exec_count_(metrics.exec_count_.Add(Labels(model, version))),
      request_us_(metrics.request_us_.Add(Labels(model, version))),
      queue_us_(metrics.queue_us_.Add(Labels(model, version))),
      compute_us_(metrics.compute_us_.Add(Labels(model, version))),
      batch_size_(metrics.batch_size_.Add(
          Labels(model, version),
          prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512})) {}

void ModelStats::Duration::Add(int64_t nanos) {
  count.fetch_add(1, std::memory_order_relaxed);
  ns.fetch_add(static_cast<uint64_t>(nanos), std::memory_order_relaxed);
}

void ModelStats::Duration::Fill(inference::StatisticDuration* out) const {
  out->set_count(count.load(std::memory_order_relaxed));
  out->set_ns(ns.load(std::memory_order_relaxed));
}

void ModelStats::RecordSuccess(int64_t request_ns, const RequestTiming& timing, int64_t rows) {
  success_.Increment();
  count_.Increment(static_cast<double>(rows));
  request_us_.Increment(static_cast<double>(request_ns) / 1e3);
  queue_us_.Increment(static_cast<double>(timing.queue_ns) / 1e3);
  compute_us_.Increment(static_cast<double>(timing.compute_ns) / 1e3);
  success_ns_.Add(request_ns);
  queue_ns_.Add(timing.queue_ns);
  compute_ns_.Add(timing.compute_ns);
  inference_count_.fetch_add(static_cast<uint64_t>(rows), std::memory_order_relaxed);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  last_inference_ms_.store(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()),
      std::memory_order_relaxed);
}

void ModelStats::RecordFailure(int64_t request_ns) {
  failure_.Increment();
  failure_ns_.Add(request_ns);
}

void ModelStats::RecordExecution(const ExecutionInfo& execution) {
  if (!execution.ok) return;
  exec_count_.Increment();
  batch_size_.Observe(static_cast<double>(execution.rows));
  execution_count_.fetch_add(1, std::memory_order_relaxed);
}

void ModelStats::Fill(inference::ModelStatistics* stats) const {
  stats->set_last_inference(last_inference_ms_.load(std::memory_order_relaxed));
  stats->set_inference_count(inference_count_.load(std::memory_order_relaxed));
  stats->set_execution_count(execution_count_.load(std::memory_order_relaxed));
  inference::InferStatistics* infer = stats->mutable_inference_stats();
  success_ns_.Fill(infer->mutable_success());
  failure_ns_.Fill(infer->mutable_fail());
  queue_ns_.Fill(infer->mutable_queue());
  compute_ns_.Fill(infer->mutable_compute_infer());
  // Triton reports three compute phases with equal counts, and perf_analyzer
  // refuses statistics where they differ. Inputs are decoded and outputs
  // encoded outside the engine call here, so those phases carry the count
  // and no time of their own (compute_infer holds the whole engine call).
  const uint64_t computed = infer->compute_infer().count();
  infer->mutable_compute_input()->set_count(computed);
  infer->mutable_compute_output()->set_count(computed);
}

}  // namespace fornax::serving
