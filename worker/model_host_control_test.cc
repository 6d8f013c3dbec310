// Only the coordinator places a worker's models: a client of the worker's
// inference endpoint (which may listen on every interface) that asks it over
// the protocol to unload or load a model is refused UNAVAILABLE, with
// Triton's wording and the commands that do it, and the deployed model keeps
// serving; the coordinator's UnhostModel still takes it down.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "worker/fake_coordinator_test_util.h"
#include "worker/model_host.h"
#include "worker/test_jobs.h"
#include "worker/worker.h"

namespace fornax::worker {
namespace {

using testing::FakeCoordinator;
using ::testing::HasSubstr;
using testing::TempDir;

TEST(ModelHostControlTest, ClientsCannotUnloadOrLoadADeployedModel) {
  TempDir dir;
  FakeCoordinator coordinator;
  coordinator.Start();
  WorkerConfig config;
  config.coordinator = coordinator.address();
  config.name = "w1";
  config.work_dir = dir.File("work");
  config.metrics_listen = "127.0.0.1:0";
  config.capacity.set_slots(1);
  config.binary = FORNAX_WORKER_BIN;
  absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Create(config);
  ASSERT_TRUE(worker.ok()) << worker.status();
  std::thread run([&] { (*worker)->Run(); });
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel((*worker)->inference_address(), grpc::InsecureChannelCredentials()));
  auto ready = [&] {
    grpc::ClientContext context;
    inference::ModelReadyRequest request;
    request.set_name("mlp");
    inference::ModelReadyResponse response;
    return stub->ModelReady(&context, request, &response).ok() && response.ready();
  };
  auto wait_ready = [&](bool want) {
    for (int i = 0; i < 200 && ready() != want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return ready() == want;
  };

  const std::string bytes =
      testing::ReadFileOrEmpty(testing::SourceDir() + "/tests/testdata/archives/mlp_adam.keras");
  coordinator.AddCheckpoint("ckpt-1", bytes);
  Sha256 hash;
  hash.Update(bytes);
  v1::LeaseResponse host;
  host.mutable_host()->set_name("mlp");
  host.mutable_host()->set_version(1);
  host.mutable_host()->set_checkpoint_id("ckpt-1");
  host.mutable_host()->set_sha256(hash.HexDigest());
  host.mutable_host()->set_size_bytes(static_cast<int64_t>(bytes.size()));
  coordinator.Send(host);
  ASSERT_TRUE(coordinator.WaitFor([&] {
    auto it = coordinator.hosted.find("mlp");
    return it != coordinator.hosted.end() && it->second.state() == v1::HostedModel::STATE_READY;
  }));
  ASSERT_TRUE(ready());

  {
    grpc::ClientContext context;
    inference::RepositoryModelUnloadRequest request;
    request.set_model_name("mlp");
    inference::RepositoryModelUnloadResponse response;
    const grpc::Status status = stub->RepositoryModelUnload(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(status.error_message(),
              "explicit model load / unload is not allowed if polling is enabled (fornax-worker: "
              "the coordinator places this worker's models; use fornax deploy JOB --name NAME "
              "and fornax undeploy NAME)");
  }
  EXPECT_TRUE(ready()) << "the refused unload took the model down";
  {
    grpc::ClientContext context;
    inference::RepositoryModelLoadRequest request;
    request.set_model_name("mlp");
    inference::RepositoryModelLoadResponse response;
    const grpc::Status status = stub->RepositoryModelLoad(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(status.error_message(), HasSubstr("the coordinator places this worker's models"));
  }

  // The coordinator's unhost unloads in-process.
  v1::LeaseResponse unhost;
  unhost.mutable_unhost()->set_name("mlp");
  coordinator.Send(unhost);
  EXPECT_TRUE(wait_ready(false));

  (*worker)->Shutdown();
  run.join();
  coordinator.Stop();
}

}  // namespace
}  // namespace fornax::worker
