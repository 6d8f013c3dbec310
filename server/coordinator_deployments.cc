// Coordinator, deployments: a job's checkpoint served by a worker over the
// Open Inference Protocol. The coordinator places each deployment on a
// worker that registered an inference_address, tells it over its lease
// (HostModel, UnhostModel) and follows the worker's reports of what it hosts.
// Rules in docs/coordinator.md ("Deployments").
#include <iostream>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "server/clock.h"
#include "server/coordinator.h"

namespace fornax::server {
namespace {

constexpr size_t kMaxNameChars = 64;

absl::Status ValidateName(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("name: required");
  bool valid = name.size() <= kMaxNameChars && absl::ascii_isalnum(name[0]);
  for (char c : name) {
    valid = valid && (absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-');
  }
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: '", name,
                     "' must start with a letter or digit, continue with letters, digits, '_', "
                     "'.' or '-', and have at most ",
                     kMaxNameChars, " characters"));
  }
  return absl::OkStatus();
}

absl::Status NotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("deployment '", name, "' not found"));
}

v1::DeploymentState FromHosted(v1::HostedModel::State state) {
  switch (state) {
    case v1::HostedModel::STATE_READY:
      return v1::DEPLOYMENT_STATE_READY;
    case v1::HostedModel::STATE_FAILED:
      return v1::DEPLOYMENT_STATE_FAILED;
    default:
      return v1::DEPLOYMENT_STATE_LOADING;
  }
}

void SetServing(v1::Deployment* d, const std::string& worker_id, const std::string& endpoint,
                int64_t version) {
  v1::ServingReplica* serving = d->mutable_serving();
  serving->set_worker_id(worker_id);
  serving->set_endpoint(endpoint);
  serving->set_version(version);
}

bool SameServing(const v1::Deployment& a, const v1::Deployment& b) {
  return a.has_serving() == b.has_serving() && a.serving().worker_id() == b.serving().worker_id() &&
         a.serving().endpoint() == b.serving().endpoint() &&
         a.serving().version() == b.serving().version();
}

v1::LeaseResponse UnhostMessage(const std::string& name) {
  v1::LeaseResponse message;
  message.mutable_unhost()->set_name(name);
  return message;
}

}  // namespace

absl::Status Coordinator::PutDeploymentLocked(v1::Deployment deployment) {
  *deployment.mutable_update_time() = NowTimestamp();
  FORNAX_RETURN_IF_ERROR(store_->PutDeployment(deployment));
  const std::string name = deployment.name();
  deployments_[name] = std::move(deployment);
  RefreshDeploymentGaugeLocked();
  return absl::OkStatus();
}

void Coordinator::PutDeploymentOrLogLocked(v1::Deployment deployment) {
  const std::string name = deployment.name();
  absl::Status status = PutDeploymentLocked(std::move(deployment));
  if (!status.ok()) {
    std::cerr << "fornax-coordinator: deployment " << name << ": " << status << "\n";
  }
}

std::string Coordinator::PickHostLocked(const std::string& preferred, const std::string& name) {
  auto hosts = [&](const std::string& id) {
    auto it = workers_.find(id);
    return it != workers_.end() && it->second.up && it->second.session &&
           !it->second.inference_address.empty();
  };
  if (hosts(preferred)) return preferred;
  std::map<std::string, int> load;  // hosting worker -> deployments placed on it
  for (const auto& [id, w] : workers_) {
    if (hosts(id)) load[id] = 0;
  }
  for (const auto& [other, d] : deployments_) {
    auto it = load.find(d.worker_id());
    if (it != load.end() && other != name) ++it->second;
  }
  std::string chosen;
  for (const auto& [id, n] : load) {
    if (chosen.empty() || n < load[chosen]) chosen = id;
  }
  return chosen;
}

absl::Status Coordinator::PlaceLocked(v1::Deployment deployment, const std::string& preferred) {
  const std::string chosen = PickHostLocked(preferred, deployment.name());
  if (chosen.empty()) {
    deployment.set_state(v1::DEPLOYMENT_STATE_PENDING);
    deployment.set_reason(
        absl::StrCat(deployment.reason().empty() ? "" : absl::StrCat(deployment.reason(), "; "),
                     "waiting for a worker that hosts models (fornax-worker with an "
                     "inference address)"));
    deployment.clear_worker_id();
    deployment.clear_endpoint();
    return PutDeploymentLocked(std::move(deployment));
  }
  FORNAX_ASSIGN_OR_RETURN(std::optional<v1::CheckpointRecord> record,
                          store_->GetCheckpoint(deployment.checkpoint_id()));
  if (!record) {
    return absl::DataLossError(absl::StrCat("checkpoint ", deployment.checkpoint_id(),
                                            " of deployment '", deployment.name(),
                                            "' is no longer stored"));
  }
  const WorkerState& w = workers_[chosen];
  deployment.set_state(v1::DEPLOYMENT_STATE_LOADING);
  deployment.clear_reason();
  deployment.set_worker_id(chosen);
  deployment.set_endpoint(w.inference_address);
  v1::LeaseResponse message;
  v1::HostModel* host = message.mutable_host();
  host->set_name(deployment.name());
  host->set_version(deployment.version());
  host->set_checkpoint_id(deployment.checkpoint_id());
  host->set_sha256(record->sha256());
  host->set_size_bytes(record->size_bytes());
  FORNAX_RETURN_IF_ERROR(PutDeploymentLocked(std::move(deployment)));
  w.session->Push(std::move(message));
  return absl::OkStatus();
}

void Coordinator::PlacePendingLocked() {
  std::vector<v1::Deployment> pending;
  for (const auto& [name, d] : deployments_) {
    if (d.state() == v1::DEPLOYMENT_STATE_PENDING) pending.push_back(d);
  }
  for (v1::Deployment& d : pending) {
    // Without a host it stays as it is, keeping the reason it was moved.
    if (PickHostLocked("", d.name()).empty()) return;
    const std::string name = d.name();
    absl::Status status = PlaceLocked(std::move(d));
    if (!status.ok()) {  // it stays pending; the next registration retries
      std::cerr << "fornax-coordinator: placing deployment " << name << " failed: " << status
                << "\n";
    }
  }
}

void Coordinator::ApplyHostedLocked(
    const std::string& worker_id,
    const google::protobuf::RepeatedPtrField<v1::HostedModel>& hosted) {
  for (const v1::HostedModel& h : hosted) {
    auto it = deployments_.find(h.name());
    // Older versions (served until the new one is ready) and models no
    // longer placed here say nothing about the deployment.
    if (it == deployments_.end() || it->second.worker_id() != worker_id ||
        it->second.version() != h.version()) {
      continue;
    }
    v1::Deployment d = it->second;
    const v1::DeploymentState state = FromHosted(h.state());
    std::string reason;  // only PENDING and FAILED have one
    if (state == v1::DEPLOYMENT_STATE_FAILED) {
      reason = h.reason().empty() ? "the worker could not load it" : h.reason();
    }
    // A worker that came back may serve at a new address.
    const std::string& endpoint = workers_[worker_id].inference_address;
    d.set_state(state);
    d.set_reason(reason);
    d.set_endpoint(endpoint);
    if (state == v1::DEPLOYMENT_STATE_READY) {
      SetServing(&d, worker_id, endpoint, h.version());  // clients switch over now
    } else if (d.serving().worker_id() == worker_id && d.serving().version() == h.version()) {
      d.clear_serving();  // that replica no longer answers
    }
    // (A FAILED redeploy leaves the previous version serving on the worker.)
    const v1::Deployment& was = it->second;
    if (d.state() == was.state() && d.reason() == was.reason() && d.endpoint() == was.endpoint() &&
        SameServing(d, was)) {
      continue;
    }
    PutDeploymentOrLogLocked(std::move(d));  // the next report retries
  }
}

void Coordinator::ReconcileHostedLocked(const v1::RegisterRequest& request) {
  const std::string& worker_id = request.worker_id();
  WorkerState& w = workers_[worker_id];
  w.inference_address = request.inference_address();
  if (w.inference_address.empty()) {
    ReplaceDeploymentsLocked({worker_id}, "re-registered without an inference address",
                             /*still_serving=*/false);
  }
  // What its previous session served answers now only if it lists it READY
  // and keeps it (it is still placed here); at its new address.
  std::vector<v1::Deployment> served;
  for (const auto& [name, d] : deployments_) {
    if (d.serving().worker_id() == worker_id) served.push_back(d);
  }
  for (v1::Deployment& d : served) {
    bool ready = false;
    for (const v1::HostedModel& h : request.hosted()) {
      ready = ready || (h.name() == d.name() && h.version() == d.serving().version() &&
                        h.state() == v1::HostedModel::STATE_READY);
    }
    if (ready && d.worker_id() == worker_id) {
      if (d.serving().endpoint() == w.inference_address) continue;
      d.mutable_serving()->set_endpoint(w.inference_address);
    } else {
      d.clear_serving();
    }
    PutDeploymentOrLogLocked(std::move(d));
  }
  std::set<std::pair<std::string, int64_t>> listed;
  for (const v1::HostedModel& h : request.hosted()) {
    auto it = deployments_.find(h.name());
    if (it == deployments_.end() || it->second.worker_id() != worker_id) {
      w.session->Push(UnhostMessage(h.name()));
    } else {
      listed.insert({h.name(), h.version()});
    }
  }
  ApplyHostedLocked(worker_id, request.hosted());
  std::vector<v1::Deployment> lost;
  for (const auto& [name, d] : deployments_) {
    if (d.worker_id() == worker_id && listed.count({name, d.version()}) == 0) lost.push_back(d);
  }
  for (v1::Deployment& d : lost) {
    const std::string name = d.name();
    d.clear_reason();
    absl::Status status = PlaceLocked(std::move(d), worker_id);
    if (!status.ok()) {
      std::cerr << "fornax-coordinator: hosting deployment " << name << " again failed: " << status
                << "\n";
    }
  }
  PlacePendingLocked();
}

void Coordinator::ReplaceDeploymentsLocked(const std::set<std::string>& workers,
                                           const std::string& why, bool still_serving) {
  std::vector<v1::Deployment> lost;      // placed on one of them: placed again
  std::vector<v1::Deployment> unserved;  // only served by one of them
  for (const auto& [name, d] : deployments_) {
    const bool placed = d.state() != v1::DEPLOYMENT_STATE_PENDING && workers.count(d.worker_id());
    const bool served = !still_serving && d.has_serving() && workers.count(d.serving().worker_id());
    if (!placed && !served) continue;
    v1::Deployment copy = d;
    if (served) copy.clear_serving();
    (placed ? lost : unserved).push_back(std::move(copy));
  }
  for (v1::Deployment& d : unserved) {
    PutDeploymentOrLogLocked(std::move(d));  // the next pass retries
  }
  for (v1::Deployment& d : lost) {
    const std::string name = d.name();
    d.set_reason(absl::StrCat("worker ", d.worker_id(), " ", why));
    d.clear_worker_id();
    d.set_state(v1::DEPLOYMENT_STATE_PENDING);
    absl::Status status = PlaceLocked(std::move(d));
    if (!status.ok()) {  // it stays where it was; the next pass retries
      std::cerr << "fornax-coordinator: placing deployment " << name << " again failed: " << status
                << "\n";
    }
  }
}

void Coordinator::RefreshDeploymentGaugeLocked() {
  if (metrics_ == nullptr) return;
  std::array<int64_t, 5> counts{};
  for (const auto& [name, d] : deployments_) ++counts[d.state()];
  metrics_->SetDeploymentCounts(counts);
}

absl::StatusOr<v1::Deployment> Coordinator::Deploy(const v1::DeployRequest& request) {
  FORNAX_RETURN_IF_ERROR(ValidateName(request.name()));
  if (request.job_id().empty()) return absl::InvalidArgumentError("job_id: required");
  FORNAX_ASSIGN_OR_RETURN(v1::Job job, GetJob(request.job_id()));
  if (request.checkpoint_id().empty() &&
      (job.state() != v1::JOB_STATE_SUCCEEDED || job.final_checkpoint_id().empty())) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.job_id(), " is ", v1::JobState_Name(job.state()),
                     " and has no final checkpoint; wait until it succeeds or name a checkpoint_id "
                     "(fornax checkpoints ",
                     job.job_id(), ")"));
  }
  FORNAX_ASSIGN_OR_RETURN(
      v1::CheckpointRecord record,
      FindCheckpoint(job.job_id(), request.checkpoint_id().empty() ? job.final_checkpoint_id()
                                                                   : request.checkpoint_id()));
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return absl::UnavailableError("coordinator shutting down");
  v1::Deployment d;
  std::string preferred;
  if (auto it = deployments_.find(request.name()); it != deployments_.end()) {
    d = it->second;  // a redeploy: the next version, on the same worker when it can
    preferred = d.worker_id();
  } else {
    d.set_name(request.name());
    *d.mutable_create_time() = NowTimestamp();
  }
  d.set_version(d.version() + 1);
  d.set_job_id(job.job_id());
  d.set_checkpoint_id(record.checkpoint_id());
  d.clear_reason();
  FORNAX_RETURN_IF_ERROR(PlaceLocked(std::move(d), preferred));
  return deployments_[request.name()];
}

absl::StatusOr<v1::Deployment> Coordinator::GetDeployment(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("name: required");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = deployments_.find(name);
  if (it == deployments_.end()) return NotFound(name);
  return it->second;
}

v1::ListDeploymentsResponse Coordinator::ListDeployments() {
  std::lock_guard<std::mutex> lock(mu_);
  v1::ListDeploymentsResponse response;
  for (const auto& [name, d] : deployments_) *response.add_deployments() = d;
  return response;
}

absl::StatusOr<v1::Deployment> Coordinator::Undeploy(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("name: required");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = deployments_.find(name);
  if (it == deployments_.end()) return NotFound(name);
  FORNAX_RETURN_IF_ERROR(store_->DeleteDeployment(name));
  v1::Deployment removed = std::move(it->second);
  deployments_.erase(it);
  RefreshDeploymentGaugeLocked();
  auto w = workers_.find(removed.worker_id());
  if (w != workers_.end() && w->second.session) w->second.session->Push(UnhostMessage(name));
  return removed;
}

}  // namespace fornax::server
