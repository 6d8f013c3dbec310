#include "server/datasets_service.h"

#include "absl/strings/str_cat.h"
#include "server/clock.h"
#include "server/grpc_status.h"

namespace fornax::server {
namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

}  // namespace

grpc::Status DatasetsService::UploadDataset(grpc::ServerContext*,
                                            grpc::ServerReader<v1::UploadDatasetRequest>* reader,
                                            v1::Dataset* response) {
  v1::UploadDatasetRequest message;
  if (!reader->Read(&message)) return Invalid("empty upload: expected a header first");
  if (!message.has_header()) return Invalid("the first message must be the header");
  const v1::UploadDatasetHeader header = message.header();
  if (header.name().empty()) return Invalid("header.name: required (the file name)");
  if (!IsSha256Hex(header.sha256())) {
    return Invalid(absl::StrCat("header.sha256: expected 64 lowercase hex digits, got '",
                                header.sha256(), "'"));
  }
  if (header.size_bytes() < 0) return Invalid("header.size_bytes: must be >= 0");
  Store& store = coordinator_->store();
  ArtifactStore& artifacts = coordinator_->artifacts();
  {
    // Under the bytes' lock, which a delete holds from dropping the record to
    // removing the bytes: the record and the bytes are seen as one state, so
    // a dataset being deleted is stored again below, never reported stored.
    std::unique_lock<std::mutex> lock = artifacts.Lock(header.sha256());
    absl::StatusOr<std::optional<v1::Dataset>> existing = store.GetDataset(header.sha256());
    if (!existing.ok()) return ToGrpc(existing.status());
    if (existing->has_value() && artifacts.Contains(header.sha256())) {
      *response = **existing;
      response->set_already_stored(true);
      return grpc::Status::OK;  // the rest of the stream is not needed
    }
  }  // released: Commit takes it again
  absl::StatusOr<std::unique_ptr<ArtifactStore::Writer>> writer =
      artifacts.Create(header.sha256(), header.size_bytes());
  if (!writer.ok()) return ToGrpc(writer.status());
  while (reader->Read(&message)) {
    if (message.has_header()) return Invalid("a second header in one upload");
    absl::Status appended = (*writer)->Append(message.data());
    if (!appended.ok()) return ToGrpc(appended);
  }
  // Recorded under the bytes' lock: a delete cannot remove them before.
  absl::StatusOr<std::unique_lock<std::mutex>> committed = (*writer)->Commit();
  if (!committed.ok()) return ToGrpc(committed.status());
  v1::Dataset dataset;
  dataset.set_sha256(header.sha256());
  dataset.set_name(header.name());
  dataset.set_size_bytes(header.size_bytes());
  *dataset.mutable_create_time() = NowTimestamp();
  absl::Status put = store.PutDataset(dataset);
  if (!put.ok()) return ToGrpc(put);
  *response = dataset;
  return grpc::Status::OK;
}

grpc::Status DatasetsService::ListDatasets(grpc::ServerContext*, const v1::ListDatasetsRequest*,
                                           v1::ListDatasetsResponse* response) {
  absl::StatusOr<std::vector<v1::Dataset>> datasets = coordinator_->store().ListDatasets();
  if (!datasets.ok()) return ToGrpc(datasets.status());
  for (v1::Dataset& d : *datasets) *response->add_datasets() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status DatasetsService::DeleteDataset(grpc::ServerContext*,
                                            const v1::DeleteDatasetRequest* request,
                                            v1::DeleteDatasetResponse*) {
  // Under the bytes' lock, so an upload of them (a checkpoint, a job file,
  // this dataset again) cannot store them and record them between the
  // in-use check below and the removal.
  std::unique_lock<std::mutex> lock = coordinator_->artifacts().Lock(request->sha256());
  absl::StatusOr<std::optional<v1::Dataset>> existing =
      coordinator_->store().GetDataset(request->sha256());
  if (!existing.ok()) return ToGrpc(existing.status());
  if (!existing->has_value()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("dataset '", request->sha256(), "' not found"));
  }
  absl::Status unused = coordinator_->CheckDatasetUnused(request->sha256());
  if (!unused.ok()) return ToGrpc(unused);
  absl::Status removed = coordinator_->store().DeleteDataset(request->sha256());
  if (!removed.ok()) return ToGrpc(removed);
  // A checkpoint or job file may have the same bytes, stored once: keep them.
  absl::StatusOr<bool> in_use = coordinator_->store().IsArtifactInUse(request->sha256());
  if (!in_use.ok()) return ToGrpc(in_use.status());
  if (*in_use) return grpc::Status::OK;
  return ToGrpc(coordinator_->artifacts().Remove(request->sha256()));
}

}  // namespace fornax::server
