// The `fornax` service commands' connection to fornax-coordinator: where it
// is, one channel with the stubs, gRPC status conversion and the exit-code
// rule for RPC errors.
//
// Address: --coordinator ADDR, else env FORNAX_COORDINATOR, else
// 127.0.0.1:7070. Exit codes (cli_util.h): 2 when the server refused the
// request (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ALREADY_EXISTS,
// OUT_OF_RANGE, RESOURCE_EXHAUSTED, ...), 1 when the service failed
// (UNAVAILABLE, INTERNAL, ...); either way one "fornax: error:" line.
// Calls fail fast while the coordinator is unreachable (no wait_for_ready,
// gRPC's default), so a one-shot command says so at once, naming the
// address; the commands that follow a job retry instead (job_watcher.h),
// and so does `predict --model NAME` within its --wait-timeout.
// Thread-safety: a ServiceClient's stubs are thread-safe (gRPC's).
#ifndef FORNAX_CLIENT_SERVICE_CLIENT_H_
#define FORNAX_CLIENT_SERVICE_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "proto/fornax/v1/datasets.grpc.pb.h"
#include "proto/fornax/v1/deployments.grpc.pb.h"
#include "proto/fornax/v1/jobs.grpc.pb.h"
#include "proto/fornax/v1/workers.grpc.pb.h"
#include "server/grpc_status.h"

namespace fornax {

inline constexpr char kDefaultCoordinator[] = "127.0.0.1:7070";

// `flag` if set, else $FORNAX_COORDINATOR, else kDefaultCoordinator.
std::string CoordinatorAddress(const std::string& flag);

// Prints one "fornax: error: ..." line and returns 2 or 1 (see above).
int ReportServiceError(const absl::Status& status);

class ServiceClient {
 public:
  explicit ServiceClient(const std::string& address);

  const std::string& address() const { return address_; }
  v1::Jobs::Stub& jobs() { return *jobs_; }
  v1::Datasets::Stub& datasets() { return *datasets_; }
  v1::Workers::Stub& workers() { return *workers_; }
  v1::Deployments::Stub& deployments() { return *deployments_; }

  // Jobs.GetJob, checked.
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id);
  // Deployments.GetDeployment, checked.
  absl::StatusOr<v1::Deployment> GetDeployment(const std::string& name);

  // Prepares a context for a unary call: a deadline, so a hung coordinator
  // cannot hang the CLI.
  static void SetDeadline(grpc::ClientContext* context,
                          std::chrono::seconds timeout = std::chrono::seconds(30));

  // server::FromGrpc, with UNAVAILABLE and DEADLINE_EXCEEDED messages naming the
  // coordinator's address.
  absl::Status Check(const grpc::Status& status) const {
    return Annotate(server::FromGrpc(status));
  }
  absl::Status Annotate(const absl::Status& status) const;

 private:
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Jobs::Stub> jobs_;
  std::unique_ptr<v1::Datasets::Stub> datasets_;
  std::unique_ptr<v1::Workers::Stub> workers_;
  std::unique_ptr<v1::Deployments::Stub> deployments_;
};

}  // namespace fornax

#endif  // FORNAX_CLIENT_SERVICE_CLIENT_H_
