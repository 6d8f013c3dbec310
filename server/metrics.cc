#include "server/metrics.h"

#include <algorithm>
#include <cctype>

namespace fornax::server {
namespace {

// "JOB_STATE_QUEUED" -> "queued".
std::string StateLabel(std::string name, const std::string& prefix) {
  name = name.substr(prefix.size());
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      jobs_(
          prometheus::BuildGauge().Name("fornax_jobs").Help("Jobs by state").Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("fornax_queue_depth")
                       .Help("Jobs waiting to be scheduled")
                       .Register(*registry_)
                       .Add({})),
      scheduling_latency_(
          prometheus::BuildHistogram()
              .Name("fornax_scheduling_latency_seconds")
              .Help("Time from entering the queue to being assigned to a worker")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                               1, 5, 10, 60, 300, 3600})),
      workers_up_(prometheus::BuildGauge()
                      .Name("fornax_workers_up")
                      .Help("Workers holding a live lease")
                      .Register(*registry_)
                      .Add({})),
      restarts_(prometheus::BuildCounter()
                    .Name("fornax_job_restarts_total")
                    .Help("Times a job was requeued after a crash or a lost worker")
                    .Register(*registry_)),
      events_(prometheus::BuildCounter()
                  .Name("fornax_job_events_total")
                  .Help("Job events stored")
                  .Register(*registry_)
                  .Add({})),
      checkpoint_bytes_(prometheus::BuildCounter()
                            .Name("fornax_checkpoint_bytes_total")
                            .Help("Checkpoint bytes stored")
                            .Register(*registry_)
                            .Add({})),
      job_metric_(prometheus::BuildGauge()
                      .Name("fornax_job_metric")
                      .Help("A job's metrics at the end of its last finished epoch")
                      .Register(*registry_)),
      deployments_(prometheus::BuildGauge()
                       .Name("fornax_deployments")
                       .Help("Deployments by state")
                       .Register(*registry_)),
      swept_files_(prometheus::BuildCounter()
                       .Name("fornax_artifacts_swept_total")
                       .Help("Stored artifacts removed by the sweep because no record named them")
                       .Register(*registry_)
                       .Add({})),
      swept_bytes_(prometheus::BuildCounter()
                       .Name("fornax_artifact_swept_bytes_total")
                       .Help("Bytes of the artifacts the sweep removed")
                       .Register(*registry_)
                       .Add({})) {
  SetJobCounts({});
  SetWorkersUp(0);
  SetDeploymentCounts({});
}

void Metrics::SetJobCounts(const std::array<int64_t, 6>& counts) {
  for (int state = v1::JOB_STATE_QUEUED; state <= v1::JOB_STATE_CANCELLED; ++state) {
    jobs_
        .Add({{"state",
               StateLabel(v1::JobState_Name(static_cast<v1::JobState>(state)), "JOB_STATE_")}})
        .Set(static_cast<double>(counts[state]));
  }
  queue_depth_.Set(static_cast<double>(counts[v1::JOB_STATE_QUEUED]));
}

void Metrics::CountRestart(const std::string& job_id) {
  restarts_.Add({{"job", job_id}}).Increment();
}

void Metrics::SetJobMetrics(const std::string& job_id, const v1::Metrics& metrics) {
  for (const auto& [name, value] : metrics.values()) {
    job_metric_.Add({{"job", job_id}, {"metric", name}}).Set(value);
  }
}

void Metrics::SetDeploymentCounts(const std::array<int64_t, 5>& counts) {
  for (int state = v1::DEPLOYMENT_STATE_PENDING; state <= v1::DEPLOYMENT_STATE_FAILED; ++state) {
    const std::string label = StateLabel(
        v1::DeploymentState_Name(static_cast<v1::DeploymentState>(state)), "DEPLOYMENT_STATE_");
    deployments_.Add({{"state", label}}).Set(static_cast<double>(counts[state]));
  }
}

}  // namespace fornax::server
