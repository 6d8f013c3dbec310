#include "client/dataset_upload.h"

#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "client/service_cli.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

// Well under gRPC's default 4 MiB message limit.
constexpr size_t kChunkBytes = 1 << 20;

}  // namespace

absl::StatusOr<v1::Dataset> UploadFile(ServiceClient& client, const std::string& local_path,
                                       const std::string& name, const FileDigest& digest) {
  std::ifstream in(local_path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(local_path, ": cannot open file"));
  grpc::ClientContext context;
  v1::Dataset stored;
  std::unique_ptr<grpc::ClientWriter<v1::UploadDatasetRequest>> writer =
      client.datasets().UploadDataset(&context, &stored);
  v1::UploadDatasetRequest request;
  v1::UploadDatasetHeader* header = request.mutable_header();
  header->set_name(name);
  header->set_sha256(digest.sha256);
  header->set_size_bytes(digest.size_bytes);
  bool open = writer->Write(request);
  std::string buffer(kChunkBytes, '\0');
  Sha256 hash;  // the file may change between hashing and sending
  while (open && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    request.set_data(buffer.data(), static_cast<size_t>(n));
    hash.Update(request.data());
    open = writer->Write(request);
  }
  if (open && hash.HexDigest() != digest.sha256) {
    context.TryCancel();
    writer->Finish();  // CANCELLED, by us; the cause is below
    return absl::DataLossError(absl::StrCat(local_path, ": changed while uploading"));
  }
  writer->WritesDone();
  // When the server ended the stream early (a rejected header), Finish
  // carries its reason.
  FORNAX_RETURN_IF_ERROR(client.Check(writer->Finish()));
  return stored;
}

absl::Status UploadMissing(ServiceClient& client, const std::vector<BundledFile>& files,
                           std::ostream& log) {
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::ListDatasetsResponse listed;
  FORNAX_RETURN_IF_ERROR(
      client.Check(client.datasets().ListDatasets(&context, v1::ListDatasetsRequest(), &listed)));
  std::set<std::string> stored;
  for (const v1::Dataset& d : listed.datasets()) stored.insert(d.sha256());
  for (const BundledFile& file : files) {
    const std::string short_sha = file.digest.sha256.substr(0, 12);
    if (stored.count(file.digest.sha256)) {
      log << "stored   " << short_sha << "  " << file.name << " (already there)\n";
      continue;
    }
    FORNAX_ASSIGN_OR_RETURN(v1::Dataset dataset,
                            UploadFile(client, file.local_path, file.name, file.digest));
    stored.insert(dataset.sha256());
    log << "uploaded " << short_sha << "  " << file.name << " ("
        << HumanBytes(file.digest.size_bytes) << ")\n";
  }
  log << std::flush;
  return absl::OkStatus();
}

}  // namespace fornax
