// fornax.v1.Deployments over the Coordinator: each RPC is one Coordinator
// call (coordinator_deployments.cc has the rules).
// Thread-safety: safe for concurrent calls.
#ifndef FORNAX_SERVER_DEPLOYMENTS_SERVICE_H_
#define FORNAX_SERVER_DEPLOYMENTS_SERVICE_H_

#include "proto/fornax/v1/deployments.grpc.pb.h"
#include "server/coordinator.h"

namespace fornax::server {

class DeploymentsService final : public v1::Deployments::Service {
 public:
  explicit DeploymentsService(Coordinator* coordinator) : coordinator_(coordinator) {}

  grpc::Status Deploy(grpc::ServerContext* context, const v1::DeployRequest* request,
                      v1::Deployment* response) override;
  grpc::Status GetDeployment(grpc::ServerContext* context, const v1::GetDeploymentRequest* request,
                             v1::Deployment* response) override;
  grpc::Status ListDeployments(grpc::ServerContext* context,
                               const v1::ListDeploymentsRequest* request,
                               v1::ListDeploymentsResponse* response) override;
  grpc::Status Undeploy(grpc::ServerContext* context, const v1::UndeployRequest* request,
                        v1::Deployment* response) override;

 private:
  Coordinator* coordinator_;
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_DEPLOYMENTS_SERVICE_H_
