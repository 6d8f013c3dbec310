#include "server/inference/inference_server.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/registry.h"
#include "server/inference/http_server.h"
#include "server/inference/inference_service.h"
#include "server/inference/metrics_exposer.h"

namespace fornax::serving {

namespace {

// Loads what the model control mode loads at the start: every model, or in
// explicit mode those named (all of them for "*"). A model that fails to
// load is reported by the repository and does not stop the start.
absl::Status LoadStartupModels(const InferenceServerOptions& options, ModelRepository* repository) {
  const std::vector<std::string>& names = options.startup_models;
  if (options.model_control_mode != ModelControlMode::kExplicit ||
      (names.size() == 1 && names[0] == "*")) {
    repository->Poll();
    return absl::OkStatus();
  }
  for (const std::string& name : names) {
    absl::Status status = repository->Load(name);
    if (absl::IsNotFound(status)) {
      return absl::InvalidArgumentError(
          absl::StrCat("serve: --load-model ", name, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

// What the protocol's load and unload calls answer (OK: they reach the
// repository).
absl::Status ModelControl(const InferenceServerOptions& options) {
  if (!options.refuse_model_control.ok()) return options.refuse_model_control;
  if (options.model_control_mode != ModelControlMode::kNone) return absl::OkStatus();
  return ModelControlRefused(
      "fornax serve --model-control-mode=none: the models loaded at the start stay; start it "
      "with --model-control-mode=explicit or poll to load and unload");
}

}  // namespace

struct InferenceServer::Impl {
  std::shared_ptr<prometheus::Registry> registry;
  std::unique_ptr<InferenceMetrics> metrics;
  std::unique_ptr<MetricsExposer> exposer;
  std::unique_ptr<ModelRepository> repository;
  std::unique_ptr<InferenceService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<HttpServer> http;  // after `server`: it calls the service through it
  int grpc_port = 0;
  bool shut_down = false;
};

InferenceServer::InferenceServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

InferenceServer::~InferenceServer() { Shutdown(); }

int InferenceServer::grpc_port() const { return impl_->grpc_port; }

int InferenceServer::metrics_port() const { return impl_->exposer ? impl_->exposer->port() : 0; }

int InferenceServer::http_port() const { return impl_->http ? impl_->http->port() : 0; }

ModelRepository& InferenceServer::repository() { return *impl_->repository; }

absl::StatusOr<std::unique_ptr<InferenceServer>> InferenceServer::Start(
    const InferenceServerOptions& options) {
  std::error_code error;
  if (!std::filesystem::is_directory(options.model_repository, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("serve: --model-repository ", options.model_repository, ": not a directory"));
  }
  if (options.poll_interval_ms < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("serve: --poll-interval-ms must be >= 1, got ", options.poll_interval_ms));
  }
  auto impl = std::make_unique<Impl>();
  impl->registry = options.metrics_registry;
  if (impl->registry == nullptr) {
    impl->registry = std::make_shared<prometheus::Registry>();
    const std::string metrics_address = absl::StrCat(options.host, ":", options.metrics_port);
    absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
        MetricsExposer::Start(metrics_address, impl->registry);
    if (!exposer.ok()) {
      return absl::UnavailableError(absl::StrCat("serve: metrics: ", exposer.status().message()));
    }
    impl->exposer = *std::move(exposer);
  }
  impl->metrics = std::make_unique<InferenceMetrics>(*impl->registry);
  InferenceMetrics* metrics = impl->metrics.get();
  impl->repository = std::make_unique<ModelRepository>(
      options.model_repository,
      [metrics](const std::string& name, int64_t version, const std::string& dir) {
        return LoadServedModel(name, version, dir, metrics);
      });
  if (absl::Status loaded = LoadStartupModels(options, impl->repository.get()); !loaded.ok()) {
    return loaded;
  }
  impl->service = std::make_unique<InferenceService>(impl->repository.get(), options.server_version,
                                                     ModelControl(options));

  grpc::ServerBuilder builder;
  const std::string address = absl::StrCat(options.host, ":", options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->grpc_port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->grpc_port == 0) {
    return absl::UnavailableError(absl::StrCat("serve: cannot listen on ", address));
  }
  if (options.http_port >= 0) {
    HttpServerOptions http;
    http.host = options.host;
    http.port = options.http_port;
    http.threads = options.http_threads;
    http.max_body_bytes = static_cast<size_t>(options.max_message_bytes);
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        http, impl->service.get(), impl->server->InProcessChannel(grpc::ChannelArguments()));
    if (!started.ok()) return started.status();
    impl->http = *std::move(started);
  }
  if (options.model_control_mode == ModelControlMode::kPoll) {
    impl->repository->StartPolling(std::chrono::milliseconds(options.poll_interval_ms));
  }
  return std::unique_ptr<InferenceServer>(new InferenceServer(std::move(impl)));
}

void InferenceServer::Shutdown() {
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  if (impl_->http) impl_->http->Stop();  // its requests in flight finish first
  // Calls still open after the deadline (an idle stream) are cancelled.
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->repository.reset();  // stops polling, drains every model's queue
}

}  // namespace fornax::serving
