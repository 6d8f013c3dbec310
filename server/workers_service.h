// fornax.v1.Workers: registration, the lease stream, event and checkpoint
// uploads, dataset and checkpoint downloads. A Lease stream is served by its
// call's thread (reading heartbeats) plus one writer thread draining the
// session's outbox (assignments, cancels, heartbeat acks).
// Thread-safety: safe for concurrent calls.
#ifndef FORNAX_SERVER_WORKERS_SERVICE_H_
#define FORNAX_SERVER_WORKERS_SERVICE_H_

#include "proto/fornax/v1/workers.grpc.pb.h"
#include "server/coordinator.h"

namespace fornax::server {

class WorkersService final : public v1::Workers::Service {
 public:
  explicit WorkersService(Coordinator* coordinator) : coordinator_(coordinator) {}

  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override;
  grpc::Status Lease(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::LeaseResponse, v1::LeaseRequest>* stream) override;
  grpc::Status ReportEvents(grpc::ServerContext* context, const v1::ReportEventsRequest* request,
                            v1::ReportEventsResponse* response) override;
  grpc::Status UploadCheckpoint(grpc::ServerContext* context,
                                grpc::ServerReader<v1::UploadCheckpointRequest>* reader,
                                v1::CheckpointRecord* response) override;
  grpc::Status UploadJobFile(grpc::ServerContext* context,
                             grpc::ServerReader<v1::UploadJobFileRequest>* reader,
                             v1::JobFile* response) override;
  grpc::Status DownloadDataset(grpc::ServerContext* context,
                               const v1::DownloadDatasetRequest* request,
                               grpc::ServerWriter<v1::DownloadDatasetChunk>* writer) override;
  grpc::Status DownloadCheckpoint(grpc::ServerContext* context,
                                  const v1::WorkerDownloadCheckpointRequest* request,
                                  grpc::ServerWriter<v1::DownloadDatasetChunk>* writer) override;
  grpc::Status Leave(grpc::ServerContext* context, const v1::LeaveRequest* request,
                     v1::LeaveResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest* request,
                           v1::ListWorkersResponse* response) override;

 private:
  Coordinator* coordinator_;
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_WORKERS_SERVICE_H_
