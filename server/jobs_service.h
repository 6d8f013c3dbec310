// fornax.v1.Jobs over the Coordinator (gRPC sync API: each call runs on a
// server thread, so WatchJob blocks its thread while it waits).
// Thread-safety: safe for concurrent calls.
#ifndef FORNAX_SERVER_JOBS_SERVICE_H_
#define FORNAX_SERVER_JOBS_SERVICE_H_

#include <atomic>

#include "proto/fornax/v1/jobs.grpc.pb.h"
#include "server/coordinator.h"

namespace fornax::server {

class JobsService final : public v1::Jobs::Service {
 public:
  // At most `max_watchers` WatchJob streams at once; more get
  // RESOURCE_EXHAUSTED naming the limit.
  JobsService(Coordinator* coordinator, int max_watchers)
      : coordinator_(coordinator), max_watchers_(max_watchers) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::Job* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::Job* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::Job* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::JobEvent>* writer) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* context,
                               const v1::ListCheckpointsRequest* request,
                               v1::ListCheckpointsResponse* response) override;
  grpc::Status DownloadCheckpoint(grpc::ServerContext* context,
                                  const v1::DownloadCheckpointRequest* request,
                                  grpc::ServerWriter<v1::DownloadCheckpointChunk>* writer) override;
  grpc::Status ListJobFiles(grpc::ServerContext* context, const v1::ListJobFilesRequest* request,
                            v1::ListJobFilesResponse* response) override;
  grpc::Status DownloadJobFile(grpc::ServerContext* context,
                               const v1::DownloadJobFileRequest* request,
                               grpc::ServerWriter<v1::DownloadJobFileChunk>* writer) override;

 private:
  Coordinator* coordinator_;
  const int max_watchers_;
  std::atomic<int> watchers_{0};
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_JOBS_SERVICE_H_
