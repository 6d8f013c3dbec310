#include "server/deployments_service.h"

#include "server/grpc_status.h"

namespace fornax::server {
namespace {

// Returns `result`'s value into *out, or its status.
grpc::Status Reply(absl::StatusOr<v1::Deployment> result, v1::Deployment* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status DeploymentsService::Deploy(grpc::ServerContext*, const v1::DeployRequest* request,
                                        v1::Deployment* response) {
  return Reply(coordinator_->Deploy(*request), response);
}

grpc::Status DeploymentsService::GetDeployment(grpc::ServerContext*,
                                               const v1::GetDeploymentRequest* request,
                                               v1::Deployment* response) {
  return Reply(coordinator_->GetDeployment(request->name()), response);
}

grpc::Status DeploymentsService::ListDeployments(grpc::ServerContext*,
                                                 const v1::ListDeploymentsRequest*,
                                                 v1::ListDeploymentsResponse* response) {
  *response = coordinator_->ListDeployments();
  return grpc::Status::OK;
}

grpc::Status DeploymentsService::Undeploy(grpc::ServerContext*, const v1::UndeployRequest* request,
                                          v1::Deployment* response) {
  return Reply(coordinator_->Undeploy(request->name()), response);
}

}  // namespace fornax::server
