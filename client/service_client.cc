#include "client/service_client.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/cli_util.h"

namespace fornax {

std::string CoordinatorAddress(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("FORNAX_COORDINATOR");
  if (env != nullptr && *env != '\0') return env;
  return kDefaultCoordinator;
}

int ReportServiceError(const absl::Status& status) {
  int code = kExitInternal;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kDataLoss:
      code = kExitBadInput;
      break;
    default:
      break;
  }
  std::cerr << "fornax: error: " << status.message() << std::endl;
  return code;
}

ServiceClient::ServiceClient(const std::string& address) : address_(address) {
  grpc::ChannelArguments args;
  // Checkpoint and dataset chunks are small, but a long job's ListJobs page
  // may not be; the coordinator enforces its own limits.
  args.SetMaxReceiveMessageSize(64 << 20);
  // gRPC's default reconnect backoff grows to 2 minutes; a watcher waiting
  // out a coordinator restart should find it again within a couple of seconds.
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its default: despite its name
  // it is how long a connection attempt may take (20 s), and a short one
  // fails every call to a coordinator that is far away or busy.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  jobs_ = v1::Jobs::NewStub(channel_);
  datasets_ = v1::Datasets::NewStub(channel_);
  workers_ = v1::Workers::NewStub(channel_);
  deployments_ = v1::Deployments::NewStub(channel_);
}

absl::StatusOr<v1::Job> ServiceClient::GetJob(const std::string& job_id) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  absl::Status status = Check(jobs_->GetJob(&context, request, &job));
  if (!status.ok()) return status;
  return job;
}

absl::StatusOr<v1::Deployment> ServiceClient::GetDeployment(const std::string& name) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetDeploymentRequest request;
  request.set_name(name);
  v1::Deployment deployment;
  absl::Status status = Check(deployments_->GetDeployment(&context, request, &deployment));
  if (!status.ok()) return status;
  return deployment;
}

void ServiceClient::SetDeadline(grpc::ClientContext* context, std::chrono::seconds timeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

absl::Status ServiceClient::Annotate(const absl::Status& status) const {
  if (absl::IsUnavailable(status)) {
    return absl::UnavailableError(
        absl::StrCat("coordinator ", address_, " unavailable: ", status.message()));
  }
  if (absl::IsDeadlineExceeded(status)) {
    return absl::DeadlineExceededError(
        absl::StrCat("coordinator ", address_, " did not answer: ", status.message()));
  }
  return status;
}

}  // namespace fornax
