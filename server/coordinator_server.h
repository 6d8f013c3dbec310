// A running fornax-coordinator: the Coordinator, its four gRPC services on
// one listening port and, optionally, the Prometheus exposer. main() and the
// in-process tests both start it through here.
// Thread-safety: Shutdown() may be called from any thread, once.
#ifndef FORNAX_SERVER_COORDINATOR_SERVER_H_
#define FORNAX_SERVER_COORDINATOR_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server.h"
#include "server/coordinator.h"
#include "server/datasets_service.h"
#include "server/deployments_service.h"
#include "server/inference/metrics_exposer.h"
#include "server/jobs_service.h"
#include "server/metrics.h"
#include "server/workers_service.h"

namespace fornax::server {

struct ServerOptions {
  std::string listen = "127.0.0.1:7070";  // port 0: pick a free one
  std::string metrics_listen;             // empty: no /metrics
  CoordinatorOptions coordinator;
  int max_watch_streams = 1000;
  int max_message_bytes = 64 << 20;  // larger messages: RESOURCE_EXHAUSTED
};

class CoordinatorServer {
 public:
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const ServerOptions& options);
  ~CoordinatorServer();  // shuts down if still running

  // "host:port" actually bound.
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& metrics_address() const { return metrics_address_; }
  Coordinator& coordinator() { return *coordinator_; }
  Metrics& metrics() { return *metrics_; }

  // Ends streams, lets unary calls finish (up to 2 s), then stops.
  void Shutdown();

 private:
  CoordinatorServer() = default;

  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<serving::MetricsExposer> exposer_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<JobsService> jobs_;
  std::unique_ptr<DatasetsService> datasets_;
  std::unique_ptr<WorkersService> workers_;
  std::unique_ptr<DeploymentsService> deployments_;
  std::unique_ptr<grpc::Server> server_;
  std::string grpc_address_;
  std::string metrics_address_;
  bool stopped_ = false;
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_COORDINATOR_SERVER_H_
