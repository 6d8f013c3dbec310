// Bad input to each service gets the precise status code and a message
// naming the field, over real gRPC on loopback.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_cluster.h"
#include "server/upload_test_util.h"

namespace fornax::server {
namespace {

using ::testing::HasSubstr;

TEST(ServiceErrors, SubmitRejectsBadJobAndModelConfigs) {
  TestCluster cluster;
  v1::Job job;
  v1::JobSpec spec = cluster.ValidSpec();
  spec.set_job_yaml("model: model.json\ncompile: {loss: mse}\nfit: {epochs: -3}\n");
  grpc::Status status = cluster.Submit(spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("spec.job_yaml"));
  EXPECT_THAT(status.error_message(), HasSubstr("fit.epochs"));

  spec = cluster.ValidSpec();
  spec.set_model_json("{not json");
  status = cluster.Submit(spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("spec.model_json: not valid JSON"));

  spec = cluster.ValidSpec();
  spec.set_model_json(R"({"class_name": "Sequential", "config": {"name": "m", "layers": [)"
                      R"({"class_name": "Lambda", "config": {"name": "l"}}]}})");
  status = cluster.Submit(spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("spec.model_json"));

  spec = cluster.ValidSpec();
  spec.mutable_resources()->set_gpus(-1);
  status = cluster.Submit(spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("spec.resources.gpus"));

  // A data path that is not one of the inputs (the client must upload it).
  spec = cluster.ValidSpec();
  spec.set_job_yaml(
      "model: model.json\ncompile: {loss: mse}\n"
      "data: {train: {x: /home/me/x.npy, y: /home/me/y.npy}}\n");
  status = cluster.Submit(spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("data.train.x: path '/home/me/x.npy'"));

  EXPECT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
}

TEST(ServiceErrors, SubmitNeedsStoredInputs) {
  TestCluster cluster;
  v1::JobSpec spec = cluster.ValidSpec();
  const std::string missing = Sha256Hex("never uploaded");
  const std::string path = "inputs/" + missing + "/y.npy";
  spec.set_job_yaml(spec.job_yaml() + "  validation: {x: " + path + ", y: " + path + "}\n");
  v1::InputFile* input = spec.add_inputs();
  input->set_path(path);
  input->set_sha256(missing);
  v1::Job job;
  grpc::Status status = cluster.Submit(spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("spec.inputs[1]: dataset " + missing));
}

TEST(ServiceErrors, UnknownIdsAreNotFound) {
  TestCluster cluster;
  {
    grpc::ClientContext context;
    v1::GetJobRequest request;
    request.set_job_id("job-404");
    v1::Job job;
    grpc::Status status = cluster.jobs().GetJob(&context, request, &job);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(status.error_message(), HasSubstr("job-404"));
  }
  {
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_job_id("job-404");
    v1::Job job;
    EXPECT_EQ(cluster.jobs().CancelJob(&context, request, &job).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::WatchJobRequest request;
    request.set_job_id("job-404");
    auto reader = cluster.jobs().WatchJob(&context, request);
    v1::JobEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::DeleteDatasetRequest request;
    request.set_sha256(Sha256Hex("nothing"));
    v1::DeleteDatasetResponse response;
    EXPECT_EQ(cluster.datasets().DeleteDataset(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    v1::Job job;
    ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
    grpc::ClientContext context;
    v1::DownloadCheckpointRequest request;
    request.set_job_id(job.job_id());
    request.set_checkpoint_id("job-1-c99");
    auto reader = cluster.jobs().DownloadCheckpoint(&context, request);
    v1::DownloadCheckpointChunk chunk;
    EXPECT_FALSE(reader->Read(&chunk));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
}

TEST(ServiceErrors, OversizedMessagesAreResourceExhaustedNamingTheLimit) {
  ServerOptions options;
  options.max_message_bytes = 1 << 20;
  TestCluster cluster(options);
  v1::JobSpec spec = cluster.ValidSpec();
  spec.set_model_json(std::string(2 << 20, ' '));
  v1::Job job;
  grpc::Status status = cluster.Submit(spec, &job);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("1048576"));
}

grpc::Status UploadRaw(TestCluster& cluster, const std::string& sha, int64_t size,
                       const std::string& bytes, v1::Dataset* dataset) {
  grpc::ClientContext context;
  auto writer = cluster.datasets().UploadDataset(&context, dataset);
  v1::UploadDatasetRequest header;
  header.mutable_header()->set_name("x.npy");
  header.mutable_header()->set_sha256(sha);
  header.mutable_header()->set_size_bytes(size);
  writer->Write(header);
  v1::UploadDatasetRequest data;
  data.set_data(bytes);
  writer->Write(data);
  writer->WritesDone();
  return writer->Finish();
}

TEST(ServiceErrors, CorruptOrPartialUploadsAreNotStored) {
  TestCluster cluster;
  const std::string bytes = "0123456789";
  v1::Dataset dataset;
  grpc::Status status = UploadRaw(cluster, Sha256Hex(bytes), 10, "0123456780", &dataset);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_THAT(status.error_message(), HasSubstr("sha256 mismatch"));
  status = UploadRaw(cluster, Sha256Hex(bytes), 10, "01234", &dataset);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS);
  status = UploadRaw(cluster, Sha256Hex(bytes), 5, bytes, &dataset);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  status = UploadRaw(cluster, "XYZ", 10, bytes, &dataset);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("header.sha256"));
  {
    grpc::ClientContext context;
    v1::ListDatasetsResponse list;
    ASSERT_TRUE(cluster.datasets().ListDatasets(&context, {}, &list).ok());
    EXPECT_EQ(list.datasets_size(), 0);
  }
  EXPECT_FALSE(cluster.server().coordinator().artifacts().Contains(Sha256Hex(bytes)));

  ASSERT_TRUE(UploadRaw(cluster, Sha256Hex(bytes), 10, bytes, &dataset).ok());
  EXPECT_FALSE(dataset.already_stored());
  ASSERT_TRUE(UploadRaw(cluster, Sha256Hex(bytes), 10, bytes, &dataset).ok());
  EXPECT_TRUE(dataset.already_stored());
}

TEST(ServiceErrors, DatasetsInUseCannotBeDeleted) {
  TestCluster cluster;
  v1::JobSpec spec = cluster.ValidSpec();
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(spec, &job).ok());
  grpc::ClientContext context;
  v1::DeleteDatasetRequest request;
  request.set_sha256(spec.inputs(0).sha256());
  v1::DeleteDatasetResponse response;
  grpc::Status status = cluster.datasets().DeleteDataset(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr(job.job_id()));
}

TEST(ServiceErrors, WorkersCannotReportForJobsTheyDoNotHold) {
  TestCluster cluster;
  v1::Job job;
  ASSERT_TRUE(cluster.Submit(cluster.ValidSpec(), &job).ok());
  FakeWorker stranger(&cluster.workers(), "w-stranger");
  // Unknown session first.
  grpc::Status status = stranger.Report(job.job_id(), 0, {LogEvent(1, "hi")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("unknown session"));

  // Registered, and the job runs on it: reporting for another attempt fails.
  stranger.Register();
  stranger.OpenLease();
  v1::LeaseResponse assigned = stranger.Next();
  ASSERT_TRUE(assigned.has_assign());
  status = stranger.Report(job.job_id(), 3, {LogEvent(1, "hi")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("does not hold " + job.job_id() + " attempt 3"));
  EXPECT_TRUE(stranger.Report(job.job_id(), 0, {LogEvent(1, "hi")}).ok());

  // Another worker cannot report for it, nor upload a checkpoint.
  FakeWorker other(&cluster.workers(), "w-other");
  other.Register();
  status = other.Report(job.job_id(), 0, {LogEvent(2, "hi")});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  grpc::ClientContext context;
  v1::CheckpointRecord record;
  auto writer = cluster.workers().UploadCheckpoint(&context, &record);
  v1::UploadCheckpointRequest header;
  header.mutable_header()->set_session_id(other.session());
  header.mutable_header()->set_job_id(job.job_id());
  header.mutable_header()->set_sha256(Sha256Hex("ckpt"));
  header.mutable_header()->set_size_bytes(4);
  writer->Write(header);
  writer->WritesDone();
  status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("w-other does not hold"));
}

// A job file is checked (path, holder), stored apart from the checkpoints,
// listed and downloaded; an absent path is NOT_FOUND naming what there is.
TEST(ServiceErrors, JobFilesAreCheckedListedAndDownloaded) {
  TestCluster cluster;
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));
  v1::JobFile file;
  for (const std::string path : {"", "/etc/passwd", "../x", "a//b", "a/./b", "a\nb", "a\x1b[2J"}) {
    grpc::Status status = UploadJobFile(cluster, worker.session(), job.job_id(), path, "x", &file);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << path;
    EXPECT_THAT(status.error_message(), HasSubstr("path: expected a relative path")) << path;
    EXPECT_EQ(status.error_message().find_first_of("\n\x1b"), std::string::npos) << path;
  }
  FakeWorker other(&cluster.workers(), "w-other");
  other.Register();
  grpc::Status status =
      UploadJobFile(cluster, other.session(), job.job_id(), "log.csv", "x", &file);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("w-other does not hold"));

  const std::string csv = "epoch,loss\r\n0,1.5\r\n";
  status = UploadJobFile(cluster, worker.session(), job.job_id(), "logs/log.csv", csv, &file);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(file.path(), "logs/log.csv");
  EXPECT_EQ(file.size_bytes(), static_cast<int64_t>(csv.size()));

  grpc::ClientContext list_context;
  v1::ListJobFilesRequest list;
  list.set_job_id(job.job_id());
  v1::ListJobFilesResponse files;
  ASSERT_TRUE(cluster.jobs().ListJobFiles(&list_context, list, &files).ok());
  ASSERT_EQ(files.files_size(), 1);
  EXPECT_EQ(files.files(0).sha256(), Sha256Hex(csv));
  grpc::ClientContext checkpoints_context;
  v1::ListCheckpointsRequest checkpoints_request;
  checkpoints_request.set_job_id(job.job_id());
  v1::ListCheckpointsResponse checkpoints;
  ASSERT_TRUE(
      cluster.jobs().ListCheckpoints(&checkpoints_context, checkpoints_request, &checkpoints).ok());
  EXPECT_EQ(checkpoints.checkpoints_size(), 0);

  auto download = [&](const std::string& path, std::string* bytes) {
    grpc::ClientContext context;
    v1::DownloadJobFileRequest request;
    request.set_job_id(job.job_id());
    request.set_path(path);
    auto reader = cluster.jobs().DownloadJobFile(&context, request);
    v1::DownloadJobFileChunk chunk;
    while (reader->Read(&chunk)) *bytes += chunk.data();
    return reader->Finish();
  };
  std::string bytes;
  ASSERT_TRUE(download("logs/log.csv", &bytes).ok());
  EXPECT_EQ(bytes, csv);
  status = download("log.csv", &bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("job ", job.job_id(), " has no file 'log.csv'; its files: logs/log.csv"));
  list.set_job_id("job-404");
  grpc::ClientContext unknown_context;
  EXPECT_EQ(cluster.jobs().ListJobFiles(&unknown_context, list, &files).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// A job's files are capped together (the file of the same path not counted):
// one over the cap is refused before its bytes are stored.
TEST(ServiceErrors, JobFilesOverTheCoordinatorsCapAreRefused) {
  ServerOptions options;
  options.coordinator.max_job_files_bytes = 10;
  TestCluster cluster(options);
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));
  v1::JobFile file;
  grpc::Status status =
      UploadJobFile(cluster, worker.session(), job.job_id(), "a.csv", "123456", &file);
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = UploadJobFile(cluster, worker.session(), job.job_id(), "b.csv", "12345", &file);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("size_bytes: job ", job.job_id(),
                         "'s files would hold 11 bytes, more than the coordinator's "
                         "--max-job-files-bytes 10"));
  EXPECT_FALSE(cluster.server().coordinator().artifacts().Contains(Sha256Hex("12345")));
  status = UploadJobFile(cluster, worker.session(), job.job_id(), "a.csv", "1234567890", &file);
  ASSERT_TRUE(status.ok()) << status.error_message();

  grpc::ClientContext list_context;
  v1::ListJobFilesRequest list;
  list.set_job_id(job.job_id());
  v1::ListJobFilesResponse files;
  ASSERT_TRUE(cluster.jobs().ListJobFiles(&list_context, list, &files).ok());
  ASSERT_EQ(files.files_size(), 1);
  EXPECT_EQ(files.files(0).path(), "a.csv");
  EXPECT_EQ(files.files(0).size_bytes(), 10);
}

// A dataset with the same bytes as a job's file shares them in the artifact
// store: deleting the dataset leaves the file downloadable.
TEST(ServiceErrors, DeletingADatasetKeepsAJobFileWithItsBytes) {
  TestCluster cluster;
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));
  const std::string csv = "x,y\r\n1,2\r\n";
  v1::JobFile file;
  ASSERT_TRUE(UploadJobFile(cluster, worker.session(), job.job_id(), "out.csv", csv, &file).ok());
  const std::string sha256 = cluster.Upload("out.csv", csv);
  ASSERT_TRUE(DeleteDataset(cluster, sha256).ok());
  EXPECT_TRUE(cluster.server().coordinator().artifacts().Contains(sha256));
  const std::string other = cluster.Upload("other.csv", "a,b\r\n");
  ASSERT_TRUE(DeleteDataset(cluster, other).ok());
  EXPECT_FALSE(cluster.server().coordinator().artifacts().Contains(other));
}

// A checkpoint with the same bytes as a dataset (a pulled .keras uploaded as
// a dataset) shares them: deleting the dataset leaves it downloadable.
TEST(ServiceErrors, DeletingADatasetKeepsACheckpointWithItsBytes) {
  TestCluster cluster;
  v1::Job job;
  FakeWorker worker(&cluster.workers(), "w-1");
  ASSERT_NO_FATAL_FAILURE(SubmitAndAssign(cluster, worker, &job));
  const std::string bytes = "model bytes";
  v1::CheckpointRecord record;
  ASSERT_TRUE(UploadCheckpoint(cluster, worker.session(), job.job_id(), 1, bytes, &record).ok());
  const std::string sha256 = cluster.Upload("model.keras", bytes);
  ASSERT_EQ(sha256, record.sha256());
  ASSERT_TRUE(DeleteDataset(cluster, sha256).ok());
  grpc::ClientContext context;
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job.job_id());
  request.set_checkpoint_id(record.checkpoint_id());
  auto reader = cluster.jobs().DownloadCheckpoint(&context, request);
  std::string got;
  v1::DownloadCheckpointChunk chunk;
  while (reader->Read(&chunk)) got += chunk.data();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, bytes);
}

}  // namespace
}  // namespace fornax::server
