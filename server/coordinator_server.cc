#include "server/coordinator_server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace fornax::server {
namespace {

// "127.0.0.1:7070" -> "127.0.0.1"; "[::1]:0" -> "[::1]".
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    const ServerOptions& options) {
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  server->metrics_ = std::make_unique<Metrics>();
  if (!options.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<serving::MetricsExposer>> exposer =
        serving::MetricsExposer::Start(options.metrics_listen, server->metrics_->registry());
    if (!exposer.ok()) {
      return absl::UnavailableError(absl::StrCat("--metrics-listen ", options.metrics_listen, ": ",
                                                 exposer.status().message()));
    }
    server->exposer_ = *std::move(exposer);
    server->metrics_address_ =
        absl::StrCat(HostOf(options.metrics_listen), ":", server->exposer_->port());
  }
  FORNAX_ASSIGN_OR_RETURN(server->coordinator_,
                          Coordinator::Open(options.coordinator, server->metrics_.get()));
  Coordinator* c = server->coordinator_.get();
  server->jobs_ = std::make_unique<JobsService>(c, options.max_watch_streams);
  server->datasets_ = std::make_unique<DatasetsService>(c);
  server->workers_ = std::make_unique<WorkersService>(c);
  server->deployments_ = std::make_unique<DeploymentsService>(c);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  // The sync server runs each call on a thread of its own; streams (watches,
  // leases) hold theirs while open. Bound the pool well above the stream
  // limit so unary calls keep a thread while every watch slot is in use.
  grpc::ResourceQuota quota("fornax-coordinator");
  quota.SetMaxThreads(options.max_watch_streams + 512);
  builder.SetResourceQuota(quota);
  builder.RegisterService(server->jobs_.get());
  builder.RegisterService(server->datasets_.get());
  builder.RegisterService(server->workers_.get());
  builder.RegisterService(server->deployments_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("--listen ", options.listen, ": cannot listen"));
  }
  server->grpc_address_ = absl::StrCat(HostOf(options.listen), ":", port);
  return server;
}

void CoordinatorServer::Shutdown() {
  if (stopped_) return;
  stopped_ = true;
  coordinator_->Shutdown();  // watches and leases return
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
}

CoordinatorServer::~CoordinatorServer() {
  if (server_ != nullptr) Shutdown();
}

}  // namespace fornax::server
