// CoordinatorLink: the worker's gRPC channel to the coordinator, the current
// registration (session), and the Workers calls that move data. The channel
// reconnects on its own with a short backoff (100 ms, at most 1 s) so a
// restarted coordinator is found again quickly.
// Transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, ABORTED and
// the session being unknown after a coordinator restart) make callers wait
// for the next session and retry; see IsTransient.
// Thread-safety: all methods are safe to call concurrently.
#ifndef FORNAX_WORKER_COORDINATOR_LINK_H_
#define FORNAX_WORKER_COORDINATOR_LINK_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/fornax/v1/deployments.grpc.pb.h"
#include "proto/fornax/v1/workers.grpc.pb.h"
#include "worker/event_outbox.h"

namespace fornax::worker {

// Worth retrying after a reconnect (see above).
bool IsTransient(const absl::Status& status);

class CoordinatorLink {
 public:
  explicit CoordinatorLink(const std::string& address);

  fornax::v1::Workers::Stub& stub() { return *stub_; }

  // The session the last Register returned, until Drop(it).
  void SetSession(const std::string& session_id);
  void DropSession(const std::string& session_id);
  // Waits up to `timeout` for a session; nullopt when there is none by then
  // or after Shutdown().
  std::optional<std::string> WaitSession(std::chrono::milliseconds timeout);
  void Shutdown();

  absl::Status DownloadDataset(const std::string& session, const std::string& sha256,
                               const std::string& dest);
  absl::Status DownloadCheckpoint(const std::string& session, const std::string& checkpoint_id,
                                  const std::string& dest);
  absl::StatusOr<fornax::v1::CheckpointRecord> UploadCheckpoint(const std::string& session,
                                                                const std::string& job_id,
                                                                int attempt,
                                                                const CheckpointUpload& upload);
  absl::StatusOr<fornax::v1::JobFile> UploadJobFile(const std::string& session,
                                                    const std::string& job_id, int attempt,
                                                    const JobFileUpload& upload);
  // Workers.Leave: this worker is stopping. Waits at most `timeout`.
  absl::Status Leave(const std::string& session, std::chrono::milliseconds timeout);
  // Deployments.ListDeployments (the coordinator serves it on the same
  // address): a leaving worker asks which of its replicas clients still use.
  absl::StatusOr<fornax::v1::ListDeploymentsResponse> ListDeployments(
      std::chrono::milliseconds timeout);
  // Returns the acked sequence.
  absl::StatusOr<int64_t> ReportEvents(const std::string& session, const std::string& job_id,
                                       int attempt,
                                       const std::vector<fornax::v1::WorkerEvent>& events);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<fornax::v1::Workers::Stub> stub_;
  std::unique_ptr<fornax::v1::Deployments::Stub> deployments_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string session_;
  bool shutdown_ = false;
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_COORDINATOR_LINK_H_
