#include "worker/worker_metrics.h"

#include "absl/strings/str_cat.h"

namespace fornax::worker {
namespace {

constexpr size_t kJobsKept = 32;

prometheus::Family<prometheus::Gauge>& Gauges(prometheus::Registry& registry,
                                              const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

}  // namespace

WorkerMetrics::WorkerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  jobs_running_ =
      &Gauges(r, "fornax_worker_jobs_running", "Jobs whose process runs on this worker").Add({});
  step_seconds_ = &Gauges(r, "fornax_job_step_seconds", "Seconds of the job's last training step");
  samples_per_second_ =
      &Gauges(r, "fornax_job_samples_per_second", "Training samples per second, last step");
  metric_ = &Gauges(r, "fornax_job_metric", "The job's last step metrics (val_* per epoch)");
  retraces_ = &Gauges(r, "fornax_job_retraces", "Traces of the job's trainer so far");
  checkpoint_bytes_ = &Gauges(r, "fornax_checkpoint_bytes", "Size of the job's last checkpoint");
  checkpoint_seconds_ = &prometheus::BuildHistogram()
                             .Name("fornax_checkpoint_duration_seconds")
                             .Help("Seconds to write a .keras checkpoint")
                             .Register(r)
                             .Add({}, prometheus::Histogram::BucketBoundaries{
                                          0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
}

WorkerMetrics::~WorkerMetrics() = default;

absl::StatusOr<std::unique_ptr<WorkerMetrics>> WorkerMetrics::Start(const std::string& listen) {
  std::unique_ptr<WorkerMetrics> metrics(new WorkerMetrics());
  absl::StatusOr<std::unique_ptr<serving::MetricsExposer>> exposer =
      serving::MetricsExposer::Start(listen, metrics->registry_);
  if (!exposer.ok()) {
    return absl::UnavailableError(
        absl::StrCat("--metrics-listen ", listen, ": ", exposer.status().message()));
  }
  metrics->exposer_ = *std::move(exposer);
  const std::string host = listen.substr(0, listen.rfind(':'));
  metrics->address_ = absl::StrCat(host, ":", metrics->exposer_->port());
  return metrics;
}

void WorkerMetrics::SetJobsRunning(int n) { jobs_running_->Set(n); }

void WorkerMetrics::SetJobGauge(prometheus::Family<prometheus::Gauge>& family,
                                const std::string& job, double value,
                                const std::map<std::string, std::string>& extra_labels) {
  std::map<std::string, std::string> labels = extra_labels;
  labels["job"] = job;
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = job_series_.try_emplace(job);
  if (added) {
    job_order_.push_back(job);
    while (job_order_.size() > kJobsKept) {
      for (const Series& s : job_series_[job_order_.front()]) s.family->Remove(s.gauge);
      job_series_.erase(job_order_.front());
      job_order_.pop_front();
    }
  }
  prometheus::Gauge& gauge = family.Add(labels);
  bool known = false;
  for (const Series& s : it->second) known = known || s.gauge == &gauge;
  if (!known) it->second.push_back({&family, &gauge});
  gauge.Set(value);
}

void WorkerMetrics::OnStep(const std::string& job, const fornax::v1::StepMetrics& step) {
  SetJobGauge(*step_seconds_, job, step.step_seconds());
  SetJobGauge(*samples_per_second_, job, step.samples_per_second());
  for (const auto& [name, value] : step.metrics().values()) {
    SetJobGauge(*metric_, job, value, {{"metric", name}});
  }
}

void WorkerMetrics::OnEpoch(const std::string& job, const fornax::v1::EpochMetrics& epoch,
                            int retraces) {
  for (const auto& [name, value] : epoch.metrics().values()) {
    SetJobGauge(*metric_, job, value, {{"metric", name}});
  }
  SetJobGauge(*retraces_, job, retraces);
}

void WorkerMetrics::OnCheckpoint(const std::string& job, int64_t bytes, double seconds) {
  SetJobGauge(*checkpoint_bytes_, job, static_cast<double>(bytes));
  checkpoint_seconds_->Observe(seconds);
}

}  // namespace fornax::worker
