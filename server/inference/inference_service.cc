// InferenceService: health, metadata, configuration, statistics and
// repository RPCs (inference: infer_handler.cc).
#include "server/inference/inference_service.h"

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"

namespace fornax::serving {
namespace {

using server::ToGrpc;

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context,
                               const grpc::Status& status = grpc::Status::OK) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

void FillTensorMetadata(const TensorSpec& spec,
                        inference::ModelMetadataResponse::TensorMetadata* out) {
  out->set_name(spec.name);
  out->set_datatype(WireDatatype(spec.dtype));
  for (int64_t d : WireShape(spec.shape)) out->add_shape(d);
}

// The model's dims without the batch (-1 for a variable one), as in a
// Triton config with max_batch_size > 0.
template <typename Proto>
void FillConfigTensor(const TensorSpec& spec, Proto* out) {
  out->set_name(spec.name);
  out->set_data_type(ConfigDatatype(spec.dtype));
  const std::vector<int64_t> dims = WireShape(spec.shape);
  for (size_t d = 1; d < dims.size(); ++d) out->add_dims(dims[d]);
}

}  // namespace

absl::Status ModelControlRefused(const std::string& why) {
  return absl::UnavailableError(absl::StrCat(kExplicitControlRefused, " (", why, ")"));
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* context,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Done(context);
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* context,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  response->set_ready(true);  // serving starts after the first repository scan
  return Done(context);
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* context,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  response->set_ready(repository_->Find(request->name(), request->version()) != nullptr);
  return Done(context);
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* response) {
  response->set_name("fornax");
  response->set_version(server_version_);
  for (const char* extension :
       {"model_repository", "model_configuration", "schedule_policy", "binary_tensor_data",
        "statistics", "system_shared_memory", "classification"}) {
    response->add_extensions(extension);
  }
  return Done(context);
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    grpc::CallbackServerContext* context, const inference::ModelMetadataRequest* request,
    inference::ModelMetadataResponse* response) {
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      repository_->Lookup(request->name(), request->version());
  if (!model.ok()) return Done(context, ToGrpc(model.status()));
  const ModelSignature& signature = (*model)->signature;
  response->set_name(signature.model_name);
  // As Triton: the version asked for, else every version serving.
  const std::vector<std::shared_ptr<ServedModel>> versions =
      request->version().empty() ? repository_->Serving(request->name()) : std::vector{*model};
  for (const std::shared_ptr<ServedModel>& served : versions) {
    response->add_versions(std::to_string(served->version));
  }
  response->set_platform("keras");
  for (const TensorSpec& spec : signature.inputs) FillTensorMetadata(spec, response->add_inputs());
  for (const TensorSpec& spec : signature.outputs) {
    FillTensorMetadata(spec, response->add_outputs());
  }
  return Done(context);
}

grpc::ServerUnaryReactor* InferenceService::ModelConfig(
    grpc::CallbackServerContext* context, const inference::ModelConfigRequest* request,
    inference::ModelConfigResponse* response) {
  absl::StatusOr<std::shared_ptr<ServedModel>> model =
      repository_->Lookup(request->name(), request->version());
  if (!model.ok()) return Done(context, ToGrpc(model.status()));
  const ServedModel& served = **model;
  inference::ModelConfig* config = response->mutable_config();
  config->set_name(served.name);
  config->set_platform("keras");
  config->set_backend("fornax");
  *config->mutable_version_policy() = served.version_policy;
  config->set_max_batch_size(static_cast<int32_t>(served.config.max_batch_size));
  for (const TensorSpec& spec : served.signature.inputs) {
    FillConfigTensor(spec, config->add_input());
  }
  for (const TensorSpec& spec : served.signature.outputs) {
    inference::ModelOutput* output = config->add_output();
    FillConfigTensor(spec, output);
    auto labels = served.signature.labels.find(spec.name);
    if (labels != served.signature.labels.end()) {
      output->set_label_filename(labels->second.filename);
    }
  }
  if (served.config.dynamic_batching) {
    inference::ModelDynamicBatching* batching = config->mutable_dynamic_batching();
    for (int64_t size : served.config.preferred_batch_sizes) {
      batching->add_preferred_batch_size(static_cast<int32_t>(size));
    }
    batching->set_max_queue_delay_microseconds(
        static_cast<uint64_t>(served.config.max_queue_delay_us));
    batching->set_preserve_ordering(true);
  }
  inference::ModelInstanceGroup* group = config->add_instance_group();
  group->set_name(served.name);
  group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  group->set_count(1);
  return Done(context);
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(
    grpc::CallbackServerContext* context, const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  std::vector<std::shared_ptr<ServedModel>> models;
  if (request->name().empty()) {
    models = repository_->Ready();
  } else {
    absl::StatusOr<std::shared_ptr<ServedModel>> model =
        repository_->Lookup(request->name(), request->version());
    if (!model.ok()) return Done(context, ToGrpc(model.status()));
    // As Triton: a model's every serving version unless one is named.
    models = request->version().empty() ? repository_->Serving(request->name())
                                        : std::vector{*std::move(model)};
  }
  for (const std::shared_ptr<ServedModel>& model : models) {
    inference::ModelStatistics* stats = response->add_model_stats();
    stats->set_name(model->name);
    stats->set_version(std::to_string(model->version));
    model->stats->Fill(stats);
  }
  return Done(context);
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(
    grpc::CallbackServerContext* context, const inference::RepositoryIndexRequest* request,
    inference::RepositoryIndexResponse* response) {
  for (const ModelIndexEntry& entry : repository_->Index()) {
    if (request->ready() && entry.state != "READY") continue;
    auto* model = response->add_models();
    model->set_name(entry.name);
    model->set_version(entry.version);
    model->set_state(entry.state);
    model->set_reason(entry.reason);
  }
  return Done(context);
}

// Loads run on the gRPC callback thread: a load is explicit and rare, and
// the caller waits for its outcome anyway.
grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(
    grpc::CallbackServerContext* context, const inference::RepositoryModelLoadRequest* request,
    inference::RepositoryModelLoadResponse*) {
  if (!model_control_.ok()) return Done(context, ToGrpc(model_control_));
  return Done(context, ToGrpc(repository_->Load(request->model_name())));
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* context, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  if (!model_control_.ok()) return Done(context, ToGrpc(model_control_));
  return Done(context, ToGrpc(repository_->Unload(request->model_name())));
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryStatus(
    grpc::CallbackServerContext* context, const inference::SystemSharedMemoryStatusRequest* request,
    inference::SystemSharedMemoryStatusResponse* response) {
  absl::StatusOr<std::vector<SharedMemoryRegionInfo>> regions =
      shared_memory_.Status(request->name());
  if (!regions.ok()) return Done(context, ToGrpc(regions.status()));
  for (const SharedMemoryRegionInfo& info : *regions) {
    auto& region = (*response->mutable_regions())[info.name];
    region.set_name(info.name);
    region.set_key(info.key);
    region.set_offset(info.offset);
    region.set_byte_size(info.byte_size);
  }
  return Done(context);
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryRegister(
    grpc::CallbackServerContext* context,
    const inference::SystemSharedMemoryRegisterRequest* request,
    inference::SystemSharedMemoryRegisterResponse*) {
  const absl::Status allowed = CheckRegisteringClient(context->peer());
  if (!allowed.ok()) return Done(context, ToGrpc(allowed));
  return Done(context, ToGrpc(shared_memory_.Register({request->name(), request->key(),
                                                       request->offset(), request->byte_size()})));
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryUnregister(
    grpc::CallbackServerContext* context,
    const inference::SystemSharedMemoryUnregisterRequest* request,
    inference::SystemSharedMemoryUnregisterResponse*) {
  shared_memory_.Unregister(request->name());
  return Done(context);
}

}  // namespace fornax::serving
