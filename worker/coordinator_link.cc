#include "worker/coordinator_link.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "server/grpc_status.h"

namespace fornax::worker {
namespace {

constexpr size_t kChunkBytes = 1 << 20;
constexpr auto kTransferTimeout = std::chrono::minutes(10);
constexpr auto kCallTimeout = std::chrono::seconds(10);

void SetDeadline(grpc::ClientContext& ctx, std::chrono::nanoseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout));
}

absl::Status ReceiveToFile(grpc::ClientReader<fornax::v1::DownloadDatasetChunk>& reader,
                           grpc::ClientContext& ctx, const std::string& dest) {
  std::ofstream out(dest, std::ios::binary | std::ios::trunc);
  if (!out) {
    ctx.TryCancel();
    reader.Finish();
    return absl::InternalError(absl::StrCat("cannot write ", dest));
  }
  fornax::v1::DownloadDatasetChunk chunk;
  while (reader.Read(&chunk)) out.write(chunk.data().data(), chunk.data().size());
  absl::Status status = server::FromGrpc(reader.Finish());
  out.close();
  if (status.ok() && !out) return absl::InternalError(absl::StrCat("cannot write ", dest));
  return status;
}

// Sends `request` (the header), then `path`'s bytes as its `data` in 1 MiB
// chunks, and finishes the upload. NotFound when the file is gone.
template <typename Request>
absl::Status Upload(grpc::ClientWriter<Request>& writer, Request request, std::ifstream& in) {
  bool ok = writer.Write(request);
  std::string buffer(kChunkBytes, '\0');
  while (ok && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() == 0) break;
    request.set_data(buffer.data(), static_cast<size_t>(in.gcount()));
    ok = writer.Write(request);
  }
  writer.WritesDone();
  return server::FromGrpc(writer.Finish());
}

}  // namespace

bool IsTransient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnauthenticated:  // a session the coordinator no longer knows
    case absl::StatusCode::kUnknown:          // transport errors surface as UNKNOWN at times
      return true;
    default:
      return false;
  }
}

CoordinatorLink::CoordinatorLink(const std::string& address) {
  grpc::ChannelArguments args;
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it is how long a connection
  // attempt may take (default 20 s), and a short one times out every attempt
  // to a coordinator whose handshake takes longer (far away, or busy).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  stub_ = fornax::v1::Workers::NewStub(channel_);
  deployments_ = fornax::v1::Deployments::NewStub(channel_);
}

void CoordinatorLink::SetSession(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  session_ = session_id;
  cv_.notify_all();
}

void CoordinatorLink::DropSession(const std::string& session_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ == session_id) session_.clear();
}

std::optional<std::string> CoordinatorLink::WaitSession(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return shutdown_ || !session_.empty(); });
  if (shutdown_ || session_.empty()) return std::nullopt;
  return session_;
}

void CoordinatorLink::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  cv_.notify_all();
}

absl::Status CoordinatorLink::DownloadDataset(const std::string& session, const std::string& sha256,
                                              const std::string& dest) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, kTransferTimeout);
  fornax::v1::DownloadDatasetRequest request;
  request.set_session_id(session);
  request.set_sha256(sha256);
  auto reader = stub_->DownloadDataset(&ctx, request);
  return ReceiveToFile(*reader, ctx, dest);
}

absl::Status CoordinatorLink::DownloadCheckpoint(const std::string& session,
                                                 const std::string& checkpoint_id,
                                                 const std::string& dest) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, kTransferTimeout);
  fornax::v1::WorkerDownloadCheckpointRequest request;
  request.set_session_id(session);
  request.set_checkpoint_id(checkpoint_id);
  auto reader = stub_->DownloadCheckpoint(&ctx, request);
  return ReceiveToFile(*reader, ctx, dest);
}

absl::StatusOr<fornax::v1::CheckpointRecord> CoordinatorLink::UploadCheckpoint(
    const std::string& session, const std::string& job_id, int attempt,
    const CheckpointUpload& upload) {
  std::ifstream in(upload.path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("checkpoint ", upload.path, " is gone"));
  grpc::ClientContext ctx;
  SetDeadline(ctx, kTransferTimeout);
  fornax::v1::CheckpointRecord record;
  auto writer = stub_->UploadCheckpoint(&ctx, &record);
  fornax::v1::UploadCheckpointRequest request;
  *request.mutable_header() = upload.header;
  request.mutable_header()->set_session_id(session);
  request.mutable_header()->set_job_id(job_id);
  request.mutable_header()->set_attempt(attempt);
  FORNAX_RETURN_IF_ERROR(Upload(*writer, std::move(request), in));
  return record;
}

absl::StatusOr<fornax::v1::JobFile> CoordinatorLink::UploadJobFile(const std::string& session,
                                                                   const std::string& job_id,
                                                                   int attempt,
                                                                   const JobFileUpload& upload) {
  std::ifstream in(upload.path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("file ", upload.path, " is gone"));
  grpc::ClientContext ctx;
  SetDeadline(ctx, kTransferTimeout);
  fornax::v1::JobFile file;
  auto writer = stub_->UploadJobFile(&ctx, &file);
  fornax::v1::UploadJobFileRequest request;
  *request.mutable_header() = upload.header;
  request.mutable_header()->set_session_id(session);
  request.mutable_header()->set_job_id(job_id);
  request.mutable_header()->set_attempt(attempt);
  FORNAX_RETURN_IF_ERROR(Upload(*writer, std::move(request), in));
  return file;
}

absl::StatusOr<int64_t> CoordinatorLink::ReportEvents(
    const std::string& session, const std::string& job_id, int attempt,
    const std::vector<fornax::v1::WorkerEvent>& events) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, kCallTimeout);
  fornax::v1::ReportEventsRequest request;
  request.set_session_id(session);
  request.set_job_id(job_id);
  request.set_attempt(attempt);
  for (const fornax::v1::WorkerEvent& e : events) *request.add_events() = e;
  fornax::v1::ReportEventsResponse response;
  absl::Status status = server::FromGrpc(stub_->ReportEvents(&ctx, request, &response));
  if (!status.ok()) return status;
  return response.acked_sequence();
}

absl::Status CoordinatorLink::Leave(const std::string& session, std::chrono::milliseconds timeout) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  fornax::v1::LeaveRequest request;
  request.set_session_id(session);
  fornax::v1::LeaveResponse response;
  return server::FromGrpc(stub_->Leave(&ctx, request, &response));
}

absl::StatusOr<fornax::v1::ListDeploymentsResponse> CoordinatorLink::ListDeployments(
    std::chrono::milliseconds timeout) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  fornax::v1::ListDeploymentsResponse response;
  absl::Status status = server::FromGrpc(
      deployments_->ListDeployments(&ctx, fornax::v1::ListDeploymentsRequest(), &response));
  if (!status.ok()) return status;
  return response;
}

}  // namespace fornax::worker
