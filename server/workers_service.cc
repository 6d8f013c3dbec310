#include "server/workers_service.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "server/file_stream.h"
#include "server/grpc_status.h"

namespace fornax::server {

grpc::Status WorkersService::Register(grpc::ServerContext*, const v1::RegisterRequest* request,
                                      v1::RegisterResponse* response) {
  absl::StatusOr<v1::RegisterResponse> result = coordinator_->Register(*request);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status WorkersService::Lease(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::LeaseResponse, v1::LeaseRequest>* stream) {
  v1::LeaseRequest request;
  if (!stream->Read(&request)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "lease stream closed before a heartbeat");
  }
  absl::StatusOr<std::shared_ptr<LeaseSession>> attached =
      coordinator_->AttachLease(request.session_id());
  if (!attached.ok()) return ToGrpc(attached.status());
  std::shared_ptr<LeaseSession> session = *attached;
  // A lease that expires, or a re-registration, ends this call.
  session->OnClose([context] { context->TryCancel(); });

  v1::LeaseResponse ack;
  ack.set_heartbeat_ack(true);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    while (!done.load() && !session->closed()) {
      std::optional<v1::LeaseResponse> message = session->Pop(std::chrono::milliseconds(200));
      if (message && !stream->Write(*message)) break;
    }
  });
  grpc::Status status = grpc::Status::OK;
  do {
    absl::Status beat = coordinator_->Heartbeat(*session, request);
    if (!beat.ok()) {
      status = ToGrpc(beat);
      break;
    }
    session->Push(ack);
  } while (stream->Read(&request));
  done.store(true);
  writer.join();
  session->OnClose(nullptr);
  if (status.ok() && session->closed()) {
    status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          "lease ended (expired, replaced or shutting down); register again");
  }
  return status;
}

grpc::Status WorkersService::ReportEvents(grpc::ServerContext*,
                                          const v1::ReportEventsRequest* request,
                                          v1::ReportEventsResponse* response) {
  absl::StatusOr<v1::ReportEventsResponse> result = coordinator_->ReportEvents(*request);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

namespace {

// Stores the rest of an upload (its messages' `data`) in the artifact store
// as `sha256`, checked there against it and `size_bytes`. Returns the bytes'
// lock, held: the caller records them before it lets go (artifact_store.h).
template <typename Request>
absl::StatusOr<std::unique_lock<std::mutex>> ReceiveArtifact(ArtifactStore& artifacts,
                                                             const std::string& sha256,
                                                             int64_t size_bytes,
                                                             grpc::ServerReader<Request>* reader) {
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<ArtifactStore::Writer> writer,
                          artifacts.Create(sha256, size_bytes));
  Request message;
  while (reader->Read(&message)) {
    if (message.has_header()) return absl::InvalidArgumentError("a second header in one upload");
    FORNAX_RETURN_IF_ERROR(writer->Append(message.data()));
  }
  return writer->Commit();
}

}  // namespace

grpc::Status WorkersService::UploadCheckpoint(
    grpc::ServerContext*, grpc::ServerReader<v1::UploadCheckpointRequest>* reader,
    v1::CheckpointRecord* response) {
  v1::UploadCheckpointRequest message;
  if (!reader->Read(&message) || !message.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be the header");
  }
  const v1::UploadCheckpointHeader header = message.header();
  absl::Status holds =
      coordinator_->CheckHolds(header.session_id(), header.job_id(), header.attempt());
  if (!holds.ok()) return ToGrpc(holds);
  // Refused from the declared size, before a byte is stored (the artifact
  // store takes no more than that).
  const int64_t cap = coordinator_->options().max_checkpoint_bytes;
  if (header.size_bytes() > cap) {
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("size_bytes: job ", header.job_id(), "'s checkpoint is ", header.size_bytes(),
                     " bytes, more than the coordinator's --max-checkpoint-bytes ", cap));
  }
  absl::StatusOr<std::unique_lock<std::mutex>> received =
      ReceiveArtifact(coordinator_->artifacts(), header.sha256(), header.size_bytes(), reader);
  if (!received.ok()) return ToGrpc(received.status());
  absl::StatusOr<v1::CheckpointRecord> record = coordinator_->RecordCheckpoint(header);
  if (!record.ok()) return ToGrpc(record.status());
  *response = *std::move(record);
  return grpc::Status::OK;
}

grpc::Status WorkersService::UploadJobFile(grpc::ServerContext*,
                                           grpc::ServerReader<v1::UploadJobFileRequest>* reader,
                                           v1::JobFile* response) {
  v1::UploadJobFileRequest message;
  if (!reader->Read(&message) || !message.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be the header");
  }
  const v1::UploadJobFileHeader header = message.header();
  absl::Status checked = Coordinator::CheckJobFilePath(header.path());
  if (checked.ok()) {
    checked = coordinator_->CheckHolds(header.session_id(), header.job_id(), header.attempt());
  }
  if (checked.ok()) checked = coordinator_->CheckJobFilesFit(header);
  if (!checked.ok()) return ToGrpc(checked);
  absl::StatusOr<std::unique_lock<std::mutex>> received =
      ReceiveArtifact(coordinator_->artifacts(), header.sha256(), header.size_bytes(), reader);
  if (!received.ok()) return ToGrpc(received.status());
  absl::StatusOr<v1::JobFile> file = coordinator_->RecordJobFile(header);
  if (!file.ok()) return ToGrpc(file.status());
  *response = *std::move(file);
  return grpc::Status::OK;
}

grpc::Status WorkersService::DownloadDataset(grpc::ServerContext*,
                                             const v1::DownloadDatasetRequest* request,
                                             grpc::ServerWriter<v1::DownloadDatasetChunk>* writer) {
  absl::Status session = coordinator_->CheckSession(request->session_id());
  if (!session.ok()) return ToGrpc(session);
  absl::StatusOr<std::optional<v1::Dataset>> dataset =
      coordinator_->store().GetDataset(request->sha256());
  if (!dataset.ok()) return ToGrpc(dataset.status());
  if (!dataset->has_value()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("dataset '", request->sha256(), "' not found"));
  }
  return StreamFile(coordinator_->artifacts().PathFor(request->sha256()),
                    v1::DownloadDatasetChunk(), writer);
}

grpc::Status WorkersService::DownloadCheckpoint(
    grpc::ServerContext*, const v1::WorkerDownloadCheckpointRequest* request,
    grpc::ServerWriter<v1::DownloadDatasetChunk>* writer) {
  absl::Status session = coordinator_->CheckSession(request->session_id());
  if (!session.ok()) return ToGrpc(session);
  absl::StatusOr<std::optional<v1::CheckpointRecord>> record =
      coordinator_->store().GetCheckpoint(request->checkpoint_id());
  if (!record.ok()) return ToGrpc(record.status());
  if (!record->has_value()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("checkpoint '", request->checkpoint_id(), "' not found"));
  }
  return StreamFile(coordinator_->artifacts().PathFor((*record)->sha256()),
                    v1::DownloadDatasetChunk(), writer);
}

grpc::Status WorkersService::Leave(grpc::ServerContext*, const v1::LeaveRequest* request,
                                   v1::LeaveResponse*) {
  return ToGrpc(coordinator_->Leave(request->session_id()));
}

grpc::Status WorkersService::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                         v1::ListWorkersResponse* response) {
  *response = coordinator_->ListWorkers();
  return grpc::Status::OK;
}

}  // namespace fornax::server
