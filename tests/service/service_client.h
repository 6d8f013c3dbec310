// ServiceClient: the Jobs and Datasets stubs of one coordinator plus
// the few calls the service tests and the benchmark make through them
// (upload a data file, submit, get, watch a job's events). Errors come back
// as absl::Status with the gRPC code and message.
// Thread-safety: the stubs are thread-safe; so is every method.
#ifndef FORNAX_TESTS_SERVICE_SERVICE_CLIENT_H_
#define FORNAX_TESTS_SERVICE_SERVICE_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/fornax/v1/datasets.grpc.pb.h"
#include "proto/fornax/v1/jobs.grpc.pb.h"

namespace fornax::service_testing {

// Lowercase hex sha256 of `bytes`.
std::string Sha256Hex(const std::string& bytes);

class ServiceClient {
 public:
  explicit ServiceClient(const std::string& address);

  v1::Jobs::Stub& jobs() { return *jobs_; }

  // Uploads the file at `local_path` and returns the InputFile a JobSpec
  // names it by: path "inputs/<sha256>/<basename>", as the CLI writes it.
  absl::StatusOr<v1::InputFile> Upload(const std::string& local_path);
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec);
  absl::StatusOr<v1::Job> Get(const std::string& job_id, absl::Duration timeout = absl::Seconds(5));

  // WatchJob(job_id, after_sequence) until the stream ends or `timeout`;
  // every event is appended to `events`. The stream's final status.
  absl::Status Watch(const std::string& job_id, int64_t after_sequence, bool follow,
                     std::vector<v1::JobEvent>* events,
                     absl::Duration timeout = absl::Seconds(120));

  // The bytes of a job's checkpoint (the final one when `checkpoint_id` is
  // empty) via Jobs.DownloadCheckpoint.
  absl::StatusOr<std::string> Download(const std::string& job_id,
                                       const std::string& checkpoint_id = "");

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Jobs::Stub> jobs_;
  std::unique_ptr<v1::Datasets::Stub> datasets_;
};

// One HTTP/1.0 GET to host:port (Prometheus, /metrics); the body when the
// status is 200.
absl::StatusOr<std::string> HttpGet(const std::string& host_port, const std::string& target);

}  // namespace fornax::service_testing

#endif  // FORNAX_TESTS_SERVICE_SERVICE_CLIENT_H_
