#include "tests/service/service_client.h"

#include <netdb.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/data/file_util.h"
#include "server/grpc_status.h"

namespace fornax::service_testing {
namespace {

std::chrono::system_clock::time_point Deadline(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace

std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

ServiceClient::ServiceClient(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  // A restarted coordinator is found again quickly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  jobs_ = v1::Jobs::NewStub(channel_);
  datasets_ = v1::Datasets::NewStub(channel_);
}

absl::StatusOr<v1::InputFile> ServiceClient::Upload(const std::string& local_path) {
  absl::StatusOr<std::string> bytes_or = ReadFileToString(local_path);
  if (!bytes_or.ok()) return bytes_or.status();
  const std::string& bytes = *bytes_or;
  const std::string name = std::filesystem::path(local_path).filename().string();
  v1::InputFile file;
  file.set_sha256(Sha256Hex(bytes));
  file.set_size_bytes(static_cast<int64_t>(bytes.size()));
  file.set_path(absl::StrCat("inputs/", file.sha256(), "/", name));

  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Seconds(60)));
  v1::Dataset dataset;
  std::unique_ptr<grpc::ClientWriter<v1::UploadDatasetRequest>> writer =
      datasets_->UploadDataset(&ctx, &dataset);
  v1::UploadDatasetRequest header;
  header.mutable_header()->set_name(name);
  header.mutable_header()->set_sha256(file.sha256());
  header.mutable_header()->set_size_bytes(file.size_bytes());
  bool ok = writer->Write(header);
  constexpr size_t kChunk = 1 << 20;
  for (size_t at = 0; ok && at < bytes.size(); at += kChunk) {
    v1::UploadDatasetRequest part;
    part.set_data(bytes.substr(at, kChunk));
    ok = writer->Write(part);
  }
  writer->WritesDone();
  absl::Status status = server::FromGrpc(writer->Finish());
  if (!status.ok()) return status;
  return file;
}

absl::StatusOr<v1::Job> ServiceClient::Submit(const v1::JobSpec& spec) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Seconds(10)));
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::Job job;
  absl::Status status = server::FromGrpc(jobs_->SubmitJob(&ctx, request, &job));
  if (!status.ok()) return status;
  return job;
}

absl::StatusOr<v1::Job> ServiceClient::Get(const std::string& job_id, absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(timeout));
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  absl::Status status = server::FromGrpc(jobs_->GetJob(&ctx, request, &job));
  if (!status.ok()) return status;
  return job;
}

absl::Status ServiceClient::Watch(const std::string& job_id, int64_t after_sequence, bool follow,
                                  std::vector<v1::JobEvent>* events, absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(timeout));
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  request.set_after_sequence(after_sequence);
  request.set_follow(follow);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader = jobs_->WatchJob(&ctx, request);
  v1::JobEvent event;
  while (reader->Read(&event)) events->push_back(event);
  return server::FromGrpc(reader->Finish());
}

absl::StatusOr<std::string> ServiceClient::Download(const std::string& job_id,
                                                    const std::string& checkpoint_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(absl::Seconds(60)));
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job_id);
  request.set_checkpoint_id(checkpoint_id);
  std::unique_ptr<grpc::ClientReader<v1::DownloadCheckpointChunk>> reader =
      jobs_->DownloadCheckpoint(&ctx, request);
  std::string bytes;
  v1::DownloadCheckpointChunk chunk;
  while (reader->Read(&chunk)) bytes += chunk.data();
  absl::Status status = server::FromGrpc(reader->Finish());
  if (!status.ok()) return status;
  return bytes;
}

absl::StatusOr<std::string> HttpGet(const std::string& host_port, const std::string& target) {
  const size_t colon = host_port.rfind(':');
  const std::string host = host_port.substr(0, colon);
  const std::string port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (colon == std::string::npos || getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve ", host_port));
  }
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const bool connected = connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!connected) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", host_port));
  }
  const std::string request =
      absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: ", host_port, "\r\n\r\n");
  std::string response;
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char buf[65536];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, n);
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  const size_t space = response.find(' ');
  int code = 0;
  if (body == std::string::npos || space == std::string::npos ||
      !absl::SimpleAtoi(response.substr(space + 1, 3), &code)) {
    return absl::UnavailableError(absl::StrCat("no HTTP response from ", host_port, target));
  }
  if (code != 200) {
    return absl::UnavailableError(
        absl::StrCat("HTTP ", code, " from ", host_port, target, ": ", response.substr(body + 4)));
  }
  return response.substr(body + 4);
}

}  // namespace fornax::service_testing
