// InferenceServer: `fornax serve` without the command line: the model
// repository (scanned once before Start returns, then polled), the gRPC
// InferenceService and the Prometheus exposer.
// Thread-safety: Shutdown may be called from any thread, once.
#ifndef FORNAX_SERVER_INFERENCE_INFERENCE_SERVER_H_
#define FORNAX_SERVER_INFERENCE_INFERENCE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fornax::serving {

struct InferenceServerOptions {
  std::string model_repository;
  std::string host = "127.0.0.1";
  int port = 8001;          // 0: any free port
  int metrics_port = 8002;  // 0: any free port
  int poll_interval_ms = 1000;
  std::string server_version;
  // gRPC message limits: large tensors must fit (gRPC's default is 4 MiB).
  int max_message_bytes = 256 << 20;
};

class InferenceServer {
 public:
  static absl::StatusOr<std::unique_ptr<InferenceServer>> Start(
      const InferenceServerOptions& options);
  ~InferenceServer();

  int grpc_port() const;
  int metrics_port() const;
  // Stops accepting calls, finishes those in flight, stops polling.
  void Shutdown();

 private:
  struct Impl;
  explicit InferenceServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_INFERENCE_SERVER_H_
