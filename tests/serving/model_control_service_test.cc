// Who may load and unload: the protocol's calls (gRPC RepositoryModelLoad/
// Unload, HTTP POST v2/repository/models/NAME/load|unload) are refused by a
// server whose host places the models itself (refuse_model_control, as
// fornax-worker's), in every mode, and change nothing; the host's own calls
// on repository() still load and unload, also in mode none.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/data/test_files.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "server/inference/inference_server.h"
#include "server/inference/inference_service.h"
#include "tests/serving/http_test_util.h"

namespace fornax::serving {
namespace {

using ::testing::HasSubstr;

constexpr char kWhy[] = "the host places the models";

class ModelControlServiceTest : public ::testing::Test {
 protected:
  // Serves repository mlp/1 (gRPC and HTTP) in `mode`.
  void Start(ModelControlMode mode, absl::Status refuse) {
    testing::WriteFile(
        dir_.File("models/mlp/1/model.keras"),
        testing::ReadFileOrEmpty(testing::SourceDir() + "/tests/testdata/archives/mlp_adam.keras"));
    InferenceServerOptions options;
    options.model_repository = dir_.File("models");
    options.port = 0;
    options.http_port = 0;
    options.metrics_registry = std::make_shared<prometheus::Registry>();
    options.model_control_mode = mode;
    options.refuse_model_control = std::move(refuse);
    absl::StatusOr<std::unique_ptr<InferenceServer>> server = InferenceServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }
  grpc::Status Unload() {
    grpc::ClientContext context;
    inference::RepositoryModelUnloadRequest request;
    request.set_model_name("mlp");
    inference::RepositoryModelUnloadResponse response;
    return stub_->RepositoryModelUnload(&context, request, &response);
  }
  grpc::Status Load() {
    grpc::ClientContext context;
    inference::RepositoryModelLoadRequest request;
    request.set_model_name("mlp");
    inference::RepositoryModelLoadResponse response;
    return stub_->RepositoryModelLoad(&context, request, &response);
  }
  bool Ready() { return server_->repository().Find("mlp", "") != nullptr; }

  testing::TempDir dir_;
  std::unique_ptr<InferenceServer> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(ModelControlServiceTest, AHostPlacingTheModelsRefusesTheProtocolsLoadAndUnload) {
  Start(ModelControlMode::kPoll, ModelControlRefused(kWhy));
  ASSERT_TRUE(Ready());
  const std::string expected = absl::StrCat(kExplicitControlRefused, " (", kWhy, ")");
  for (const grpc::Status& status : {Unload(), Load()}) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(status.error_message(), expected);
  }
  for (const char* action : {"unload", "load"}) {
    const std::string reply =
        testing::PostOverHttp("127.0.0.1", server_->http_port(),
                              absl::StrCat("/v2/repository/models/mlp/", action), "{}");
    EXPECT_THAT(reply, HasSubstr("HTTP/1.1 503"));
    EXPECT_THAT(reply, HasSubstr(expected));
  }
  EXPECT_TRUE(Ready()) << "a refused unload changed nothing";

  // The host's own calls are not the protocol's.
  ASSERT_TRUE(server_->repository().Unload("mlp").ok());
  EXPECT_FALSE(Ready());
  EXPECT_EQ(Load().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(Ready()) << "a refused load loaded nothing";
  ASSERT_TRUE(server_->repository().Load("mlp").ok());
  EXPECT_TRUE(Ready());
}

// Mode none refuses the protocol's calls (model_control_test.py checks them
// with tritonclient), yet the host may still load and unload.
TEST_F(ModelControlServiceTest, ModeNoneRefusesClientsButNotTheHost) {
  Start(ModelControlMode::kNone, absl::OkStatus());
  const grpc::Status refused = Unload();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(),
              HasSubstr(absl::StrCat(kExplicitControlRefused,
                                     " (fornax serve --model-control-mode=none: ")));
  EXPECT_TRUE(Ready());
  ASSERT_TRUE(server_->repository().Unload("mlp").ok());
  EXPECT_FALSE(Ready());
  ASSERT_TRUE(server_->repository().Load("mlp").ok());
  EXPECT_TRUE(Ready());
}

// Without a refusal, poll mode lets the protocol's calls through.
TEST_F(ModelControlServiceTest, PollModeLetsClientsUnloadAndLoad) {
  Start(ModelControlMode::kPoll, absl::OkStatus());
  ASSERT_TRUE(Unload().ok());
  EXPECT_FALSE(Ready());
  ASSERT_TRUE(Load().ok());
  EXPECT_TRUE(Ready());
}

}  // namespace
}  // namespace fornax::serving
