// Test helpers for uploads over real gRPC: a dataset, a worker's checkpoint
// and job file, a dataset's delete, and whether stored bytes are intact.
#ifndef FORNAX_SERVER_UPLOAD_TEST_UTIL_H_
#define FORNAX_SERVER_UPLOAD_TEST_UTIL_H_

#include <string>

#include "engine/data/file_util.h"
#include "server/test_cluster.h"

namespace fornax::server {

// Each upload sends what a worker sends: the header, then the bytes; `record`
// / `file`, when given, receive the coordinator's reply.
inline grpc::Status UploadCheckpoint(TestCluster& cluster, const std::string& session,
                                     const std::string& job_id, int epoch, const std::string& bytes,
                                     v1::CheckpointRecord* record = nullptr) {
  grpc::ClientContext context;
  v1::CheckpointRecord ignored;
  auto writer = cluster.workers().UploadCheckpoint(&context, record ? record : &ignored);
  v1::UploadCheckpointRequest request;
  v1::UploadCheckpointHeader* header = request.mutable_header();
  header->set_session_id(session);
  header->set_job_id(job_id);
  header->set_epoch(epoch);
  header->set_sha256(Sha256Hex(bytes));
  header->set_size_bytes(static_cast<int64_t>(bytes.size()));
  writer->Write(request);
  request.Clear();
  request.set_data(bytes);
  writer->Write(request);
  writer->WritesDone();
  return writer->Finish();
}

inline grpc::Status UploadJobFile(TestCluster& cluster, const std::string& session,
                                  const std::string& job_id, const std::string& path,
                                  const std::string& bytes, v1::JobFile* file = nullptr) {
  grpc::ClientContext context;
  v1::JobFile ignored;
  auto writer = cluster.workers().UploadJobFile(&context, file ? file : &ignored);
  v1::UploadJobFileRequest request;
  v1::UploadJobFileHeader* header = request.mutable_header();
  header->set_session_id(session);
  header->set_job_id(job_id);
  header->set_path(path);
  header->set_sha256(Sha256Hex(bytes));
  header->set_size_bytes(static_cast<int64_t>(bytes.size()));
  writer->Write(request);
  request.set_data(bytes);
  writer->Write(request);
  writer->WritesDone();
  return writer->Finish();
}

// `stored`, when given, receives the reply (already_stored among it).
inline grpc::Status UploadDataset(TestCluster& cluster, const std::string& bytes,
                                  v1::Dataset* stored = nullptr) {
  grpc::ClientContext context;
  v1::Dataset dataset;
  auto writer = cluster.datasets().UploadDataset(&context, stored ? stored : &dataset);
  v1::UploadDatasetRequest request;
  request.mutable_header()->set_name("data.bin");
  request.mutable_header()->set_sha256(Sha256Hex(bytes));
  request.mutable_header()->set_size_bytes(static_cast<int64_t>(bytes.size()));
  writer->Write(request);
  request.Clear();
  request.set_data(bytes);
  writer->Write(request);
  writer->WritesDone();
  return writer->Finish();
}

inline grpc::Status DeleteDataset(TestCluster& cluster, const std::string& sha256) {
  grpc::ClientContext context;
  v1::DeleteDatasetRequest request;
  request.set_sha256(sha256);
  v1::DeleteDatasetResponse response;
  return cluster.datasets().DeleteDataset(&context, request, &response);
}

// Whether the artifact store holds bytes that hash to `sha256`.
inline bool StoredAndIntact(TestCluster& cluster, const std::string& sha256) {
  absl::StatusOr<std::string> bytes =
      ReadFileToString(cluster.server().coordinator().artifacts().PathFor(sha256));
  return bytes.ok() && Sha256Hex(*bytes) == sha256;
}

// The fake worker heartbeats once, when its lease opens: a lease that cannot
// lapse during a test keeps a slow run (a loaded CI machine) from losing the
// job, which would refuse every upload after it.
inline ServerOptions LongLeaseOptions() {
  ServerOptions options;
  options.coordinator.lease_timeout_ms = 10 * 60 * 1000;
  return options;
}

// Submits a valid job and lets `worker` take it.
inline void SubmitAndAssign(TestCluster& cluster, FakeWorker& worker, v1::Job* job) {
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), job).ok());
  worker.Register();
  worker.OpenLease();
  ASSERT_TRUE(worker.Next().has_assign());
}

}  // namespace fornax::server

#endif  // FORNAX_SERVER_UPLOAD_TEST_UTIL_H_
