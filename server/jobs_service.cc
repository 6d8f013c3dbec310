#include "server/jobs_service.h"

#include "absl/strings/str_cat.h"
#include "server/file_stream.h"
#include "server/grpc_status.h"
#include "server/job_validation.h"

namespace fornax::server {
namespace {

// Returns `result`'s value into *out, or its status.
template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status JobsService::SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                                    v1::Job* response) {
  // Here, where the artifact store is at hand; the archive's lock is released
  // before the coordinator takes the inputs' locks together (LockAll).
  absl::Status archive = CheckModelArchive(request->spec(), coordinator_->artifacts());
  if (!archive.ok()) return ToGrpc(archive);
  return Reply(coordinator_->SubmitJob(request->spec()), response);
}

grpc::Status JobsService::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                                 v1::Job* response) {
  return Reply(coordinator_->GetJob(request->job_id()), response);
}

grpc::Status JobsService::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* request,
                                   v1::ListJobsResponse* response) {
  return Reply(coordinator_->ListJobs(*request), response);
}

grpc::Status JobsService::CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                                    v1::Job* response) {
  return Reply(coordinator_->CancelJob(request->job_id(), request->reason()), response);
}

grpc::Status JobsService::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                   grpc::ServerWriter<v1::JobEvent>* writer) {
  if (request->after_sequence() < 0) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("after_sequence: must be >= 0, got ", request->after_sequence()));
  }
  absl::Status found = coordinator_->GetJob(request->job_id()).status();
  if (!found.ok()) return ToGrpc(found);
  struct Slot {  // counts this stream among the open ones while it lives
    explicit Slot(std::atomic<int>* n) : n(n) { n->fetch_add(1); }
    ~Slot() { n->fetch_sub(1); }
    std::atomic<int>* n;
  } slot(&watchers_);
  if (watchers_.load() > max_watchers_) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("too many concurrent WatchJob streams (limit ", max_watchers_,
                                     "); retry later"));
  }
  absl::Status status = coordinator_->events().Watch(
      request->job_id(), request->after_sequence(), request->follow(),
      [context] { return context->IsCancelled(); },
      // A plain Write: with buffer hints the sync API's Write waits for a
      // flush that only the next Write would start (a stuck watch).
      [writer](const v1::JobEvent& event) { return writer->Write(event); });
  return ToGrpc(status);
}

grpc::Status JobsService::ListCheckpoints(grpc::ServerContext*,
                                          const v1::ListCheckpointsRequest* request,
                                          v1::ListCheckpointsResponse* response) {
  absl::StatusOr<std::vector<v1::CheckpointRecord>> records =
      coordinator_->ListCheckpoints(request->job_id());
  if (!records.ok()) return ToGrpc(records.status());
  for (v1::CheckpointRecord& record : *records) *response->add_checkpoints() = std::move(record);
  return grpc::Status::OK;
}

grpc::Status JobsService::DownloadCheckpoint(
    grpc::ServerContext*, const v1::DownloadCheckpointRequest* request,
    grpc::ServerWriter<v1::DownloadCheckpointChunk>* writer) {
  absl::StatusOr<v1::CheckpointRecord> record =
      coordinator_->FindCheckpoint(request->job_id(), request->checkpoint_id());
  if (!record.ok()) return ToGrpc(record.status());
  v1::DownloadCheckpointChunk first;
  *first.mutable_record() = *record;
  return StreamFile(coordinator_->artifacts().PathFor(record->sha256()), std::move(first), writer);
}

grpc::Status JobsService::ListJobFiles(grpc::ServerContext*, const v1::ListJobFilesRequest* request,
                                       v1::ListJobFilesResponse* response) {
  absl::StatusOr<std::vector<v1::JobFile>> files = coordinator_->ListJobFiles(request->job_id());
  if (!files.ok()) return ToGrpc(files.status());
  for (v1::JobFile& file : *files) *response->add_files() = std::move(file);
  return grpc::Status::OK;
}

grpc::Status JobsService::DownloadJobFile(grpc::ServerContext*,
                                          const v1::DownloadJobFileRequest* request,
                                          grpc::ServerWriter<v1::DownloadJobFileChunk>* writer) {
  absl::StatusOr<v1::JobFile> file = coordinator_->FindJobFile(request->job_id(), request->path());
  if (!file.ok()) return ToGrpc(file.status());
  v1::DownloadJobFileChunk first;
  *first.mutable_file() = *file;
  return StreamFile(coordinator_->artifacts().PathFor(file->sha256()), std::move(first), writer);
}

}  // namespace fornax::server
