// Only the coordinator places a worker's models: a client of the worker's
// inference endpoint (which may listen on every interface) that asks it over
// the protocol to unload or load a model is refused UNAVAILABLE, with
// Triton's wording and the commands that do it, and the deployed model keeps
// serving; the coordinator's UnhostModel still takes it down.
#include <chrono>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "worker/model_host_test_util.h"

namespace fornax::worker {
namespace {

using ::testing::HasSubstr;

class ModelHostControlTest : public ModelHostTest {};

TEST_F(ModelHostControlTest, ClientsCannotUnloadOrLoadADeployedModel) {
  Host("mlp", 1, "ckpt-1", Archive("mlp_adam.keras"));
  WaitState("mlp", 1, v1::HostedModel::STATE_READY);
  ASSERT_TRUE(Ready("mlp"));

  {
    grpc::ClientContext context;
    inference::RepositoryModelUnloadRequest request;
    request.set_model_name("mlp");
    inference::RepositoryModelUnloadResponse response;
    const grpc::Status status = stub_->RepositoryModelUnload(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(status.error_message(),
              "explicit model load / unload is not allowed if polling is enabled (fornax-worker: "
              "the coordinator places this worker's models; use fornax deploy JOB --name NAME "
              "and fornax undeploy NAME)");
  }
  EXPECT_TRUE(Ready("mlp")) << "the refused unload took the model down";
  {
    grpc::ClientContext context;
    inference::RepositoryModelLoadRequest request;
    request.set_model_name("mlp");
    inference::RepositoryModelLoadResponse response;
    const grpc::Status status = stub_->RepositoryModelLoad(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(status.error_message(), HasSubstr("the coordinator places this worker's models"));
  }

  // The coordinator's unhost unloads in-process.
  Unhost("mlp");
  bool unloaded = false;
  for (int i = 0; i < 200 && !unloaded; ++i) {
    unloaded = !Ready("mlp");
    if (!unloaded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(unloaded);
}

}  // namespace
}  // namespace fornax::worker
