// InferenceService: the Open Inference Protocol gRPC service
// (inference.GRPCInferenceService) over a ModelRepository, on gRPC's
// callback API: handlers never block; ModelInfer hands the request to the
// model's DynamicBatcher and finishes from the batcher's threads.
//
// Status codes: unknown or unready model -> NOT_FOUND (ModelReady answers OK
// with ready=false instead); a malformed request -> INVALID_ARGUMENT naming
// the tensor and what was expected; a failed engine call -> its own code.
// The SystemSharedMemory* RPCs manage the service's shared memory regions
// (shared_memory.h), which inference requests may read inputs from and
// write outputs to. RepositoryModelLoad and RepositoryModelUnload (which
// the HTTP routes call too) may be refused as a whole: that is a rule for
// clients, so the host's own calls on the repository are never refused.
// Thread-safety: gRPC calls the handlers concurrently; all state is in the
// repository and the (thread-safe) region registry.
#ifndef FORNAX_SERVER_INFERENCE_INFERENCE_SERVICE_H_
#define FORNAX_SERVER_INFERENCE_INFERENCE_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "server/inference/model_repository.h"
#include "server/inference/shared_memory.h"

namespace fornax::serving {

// Triton's message for a load or unload it refuses (its wording, which
// clients match on, even where polling is not why).
inline constexpr char kExplicitControlRefused[] =
    "explicit model load / unload is not allowed if polling is enabled";

// The refusal of the protocol's load and unload calls: UNAVAILABLE with
// Triton's message, then `why` in parentheses (what the client can do).
absl::Status ModelControlRefused(const std::string& why);

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `model_control`: OK lets RepositoryModelLoad/Unload through to the
  // repository; any other status is their answer (ModelControlRefused).
  InferenceService(ModelRepository* repository, std::string server_version,
                   absl::Status model_control = absl::OkStatus())
      : repository_(repository),
        server_version_(std::move(server_version)),
        model_control_(std::move(model_control)) {}

  // OK when `name` at `version` ("": the highest) serves, else Infer's
  // NOT_FOUND: for a caller with a request still to decode.
  absl::Status CheckServed(const std::string& name, const std::string& version) const {
    return repository_->Lookup(name, version).status();
  }
  // Runs one inference: `done` is called exactly once, possibly on another
  // thread, after `response` is filled (on success).
  void Infer(const inference::ModelInferRequest& request, inference::ModelInferResponse* response,
             std::function<void(absl::Status)> done);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(
      grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
      inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(
      grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
      inference::RepositoryModelUnloadResponse* response) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryStatus(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryStatusRequest* request,
      inference::SystemSharedMemoryStatusResponse* response) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryRegister(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryRegisterRequest* request,
      inference::SystemSharedMemoryRegisterResponse* response) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryUnregister(
      grpc::CallbackServerContext* context,
      const inference::SystemSharedMemoryUnregisterRequest* request,
      inference::SystemSharedMemoryUnregisterResponse* response) override;

 private:
  ModelRepository* repository_;
  const std::string server_version_;
  const absl::Status model_control_;
  // Destroyed (closed) with the service; requests in flight keep the
  // regions they use.
  SharedMemoryRegistry shared_memory_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_INFERENCE_SERVICE_H_
