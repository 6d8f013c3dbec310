// InferenceServer: `fornax serve` without the command line: the model
// repository (loaded before Start returns as the model control mode says,
// then polled in ModelControlMode::kPoll), the gRPC
// InferenceService, its HTTP/REST twin and the Prometheus exposer. A host that already exposes
// Prometheus metrics (fornax-worker) passes its registry instead, so the
// nv_inference_* series appear on its endpoint and no second port opens.
// Thread-safety: Shutdown may be called from any thread, once.
#ifndef FORNAX_SERVER_INFERENCE_INFERENCE_SERVER_H_
#define FORNAX_SERVER_INFERENCE_INFERENCE_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/registry.h"
#include "server/inference/model_repository.h"

namespace fornax::serving {

// Triton's --model-control-mode: what changes the set of models served
// after the start, and whether clients may load and unload (the host's own
// calls on repository() are never refused).
enum class ModelControlMode {
  kNone,      // every model loads at the start; the protocol's load and
              // unload are refused (UNAVAILABLE, as in Triton)
  kPoll,      // every model loads at the start, then the repository is
              // polled; unlike Triton, load and unload are allowed too
  kExplicit,  // only load (and the startup list) loads; no polling
};

struct InferenceServerOptions {
  std::string model_repository;
  // What every endpoint binds to ("0.0.0.0": every interface). The HTTP
  // and metrics servers (civetweb as Debian builds it) take no IPv6; gRPC
  // alone (fornax-worker) takes a bracketed one ("[::]").
  std::string host = "127.0.0.1";
  int port = 8001;          // 0: any free port
  int metrics_port = 8002;  // 0: any free port; unused with metrics_registry
  // The HTTP/REST endpoint (http_server.h): 0: any free port, -1: none.
  int http_port = 8000;
  int http_threads = 64;  // HttpServerOptions::threads
  // When set, metrics are registered here and no exposer is started.
  std::shared_ptr<prometheus::Registry> metrics_registry;
  ModelControlMode model_control_mode = ModelControlMode::kPoll;
  int poll_interval_ms = 1000;  // kPoll only
  // When not OK, what the protocol's load and unload calls (gRPC
  // RepositoryModelLoad/Unload, HTTP POST v2/repository/models/NAME/load|
  // unload) answer in every mode (ModelControlRefused): for a host that
  // places the models itself. OK: the mode decides.
  absl::Status refuse_model_control;
  // kExplicit: the models loaded at the start ({"*"}: every one). A name
  // not in the repository fails Start; one that fails to load is reported
  // UNAVAILABLE, as in the other modes.
  std::vector<std::string> startup_models;
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
  int metrics_port() const;  // 0 with InferenceServerOptions::metrics_registry
  int http_port() const;     // 0 with InferenceServerOptions::http_port -1
  // For explicit Load/Unload by the host (fornax-worker), which the
  // protocol's refusal (model control mode, refuse_model_control) leaves
  // allowed.
  ModelRepository& repository();
  // Stops accepting calls, finishes those in flight, stops polling.
  void Shutdown();

 private:
  struct Impl;
  explicit InferenceServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_INFERENCE_SERVER_H_
