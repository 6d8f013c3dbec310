// fornax.v1.Datasets: uploads into the content-addressed artifact store,
// hashed while they stream in; a sha256 or size mismatch stores nothing.
// Thread-safety: safe for concurrent calls.
#ifndef FORNAX_SERVER_DATASETS_SERVICE_H_
#define FORNAX_SERVER_DATASETS_SERVICE_H_

#include "proto/fornax/v1/datasets.grpc.pb.h"
#include "server/coordinator.h"

namespace fornax::server {

class DatasetsService final : public v1::Datasets::Service {
 public:
  explicit DatasetsService(Coordinator* coordinator) : coordinator_(coordinator) {}

  grpc::Status UploadDataset(grpc::ServerContext* context,
                             grpc::ServerReader<v1::UploadDatasetRequest>* reader,
                             v1::Dataset* response) override;
  grpc::Status ListDatasets(grpc::ServerContext* context, const v1::ListDatasetsRequest* request,
                            v1::ListDatasetsResponse* response) override;
  grpc::Status DeleteDataset(grpc::ServerContext* context, const v1::DeleteDatasetRequest* request,
                             v1::DeleteDatasetResponse* response) override;

 private:
  Coordinator* coordinator_;
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_DATASETS_SERVICE_H_
