// `fornax deploy`, `fornax deployments`, `fornax undeploy` and `fornax
// predict --model NAME` against an in-process fake Deployments service on
// loopback: waiting for READY, FAILED and timeouts, the table, and predict
// waiting for a READY replica until --wait-timeout.
#include <deque>
#include <mutex>

#include "client/cli_util.h"
#include "client/commands.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/fornax/v1/deployments.grpc.pb.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

v1::Deployment InState(v1::DeploymentState state, const std::string& reason = "") {
  v1::Deployment d;
  d.set_name("mlp");
  d.set_version(1);
  d.set_job_id("job-7");
  d.set_checkpoint_id("job-7-c2");
  d.set_state(state);
  d.set_reason(reason);
  if (state != v1::DEPLOYMENT_STATE_PENDING) {
    d.set_worker_id("w1");
    d.set_endpoint("127.0.0.1:41234");
  }
  if (state == v1::DEPLOYMENT_STATE_READY) {
    d.mutable_serving()->set_worker_id("w1");
    d.mutable_serving()->set_endpoint("127.0.0.1:41234");
    d.mutable_serving()->set_version(1);
  }
  return d;
}

// Deploy answers LOADING; GetDeployment answers the scripted states in turn,
// the last one for good.
class FakeDeployments final : public v1::Deployments::Service {
 public:
  grpc::Status Deploy(grpc::ServerContext*, const v1::DeployRequest* request,
                      v1::Deployment* response) override {
    std::lock_guard<std::mutex> lock(mu);
    deployed = *request;
    *response = InState(v1::DEPLOYMENT_STATE_LOADING);
    return grpc::Status::OK;
  }
  grpc::Status GetDeployment(grpc::ServerContext*, const v1::GetDeploymentRequest* request,
                             v1::Deployment* response) override {
    std::lock_guard<std::mutex> lock(mu);
    ++gets;
    if (unavailable > 0) {
      --unavailable;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
    }
    if (request->name() != "mlp" || script.empty()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          "deployment '" + request->name() + "' not found");
    }
    *response = script.front();
    if (script.size() > 1) script.pop_front();
    return grpc::Status::OK;
  }
  grpc::Status ListDeployments(grpc::ServerContext*, const v1::ListDeploymentsRequest*,
                               v1::ListDeploymentsResponse* response) override {
    *response->add_deployments() = InState(v1::DEPLOYMENT_STATE_READY);
    *response->add_deployments() = InState(v1::DEPLOYMENT_STATE_PENDING, "worker w2 lost");
    response->mutable_deployments(1)->set_name("cnn");
    // A move under way: placed on w2, still answered by w1 until w2 is READY.
    v1::Deployment* moving = response->add_deployments();
    *moving = InState(v1::DEPLOYMENT_STATE_LOADING);
    moving->set_name("rnn");
    moving->set_version(3);
    moving->set_worker_id("w2");
    moving->set_endpoint("127.0.0.1:41235");
    moving->mutable_serving()->set_worker_id("w1");
    moving->mutable_serving()->set_endpoint("127.0.0.1:41234");
    moving->mutable_serving()->set_version(3);
    return grpc::Status::OK;
  }

  std::mutex mu;
  v1::DeployRequest deployed;
  std::deque<v1::Deployment> script;
  int unavailable = 0;  // GetDeployments answered UNAVAILABLE before the script
  int gets = 0;
};

class DeployCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&deployments_);
    server_ = builder.BuildAndStart();
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  void TearDown() override { server_->Shutdown(std::chrono::system_clock::now()); }

  struct Result {
    int code;
    std::string out;
    std::string err;
  };
  template <typename Run>
  Result Capture(Run run) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    const int code = run();
    std::string out = ::testing::internal::GetCapturedStdout();
    return {code, out, ::testing::internal::GetCapturedStderr()};
  }

  FakeDeployments deployments_;
  std::string address_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(DeployCommandsTest, DeployWaitsUntilReadyAndSaysWhere) {
  deployments_.script = {InState(v1::DEPLOYMENT_STATE_LOADING),
                         InState(v1::DEPLOYMENT_STATE_READY)};
  Result r = Capture([&] {
    return RunDeploy(address_, {"job-7", "--name", "mlp", "--checkpoint", "job-7-c2"});
  });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "deployment mlp version 1 READY on worker w1 at 127.0.0.1:41234\n");
  EXPECT_EQ(r.err, "deployment mlp version 1 LOADING on worker w1\n");
  EXPECT_EQ(deployments_.deployed.job_id(), "job-7");
  EXPECT_EQ(deployments_.deployed.name(), "mlp");
  EXPECT_EQ(deployments_.deployed.checkpoint_id(), "job-7-c2");
}

TEST_F(DeployCommandsTest, DeployFailsWithTheWorkersReasonOrAfterTheTimeout) {
  deployments_.script = {InState(v1::DEPLOYMENT_STATE_FAILED, "not a readable .keras")};
  Result r = Capture([&] { return RunDeploy(address_, {"job-7", "--name", "mlp"}); });
  EXPECT_EQ(r.code, kExitInternal);
  EXPECT_THAT(r.err, HasSubstr("fornax: error: deployment mlp version 1 FAILED on worker w1: "
                               "not a readable .keras\n"));

  deployments_.script = {InState(v1::DEPLOYMENT_STATE_LOADING)};
  r = Capture([&] { return RunDeploy(address_, {"job-7", "--name", "mlp", "--timeout", "1"}); });
  EXPECT_EQ(r.code, kExitInternal);
  EXPECT_THAT(r.err, HasSubstr("fornax: error: not READY after 1 s (--timeout): deployment mlp "
                               "version 1 LOADING on worker w1\n"));

  r = Capture([&] { return RunDeploy(address_, {"job-7", "--name", "mlp", "--no-wait"}); });
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out, "deployment mlp version 1 LOADING on worker w1\n");

  r = Capture([&] { return RunDeploy(address_, {"job-7"}); });
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr("deploy: --name is required"));
  r = Capture([&] { return RunDeploy(address_, {"job-7", "--name", "m", "--timeout", "0"}); });
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_THAT(r.err, HasSubstr("deploy: --timeout: expected an integer in [1, 86400], got '0'"));
}

TEST_F(DeployCommandsTest, DeploymentsListsThemInATable) {
  Result r = Capture([&] { return RunDeployments(address_, {}); });
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out,
              ::testing::MatchesRegex(
                  "NAME +VERSION +STATE +WORKER +ENDPOINT +SERVING +JOB +AGE +REASON *\n"
                  "mlp +1 +READY +w1 +127.0.0.1:41234 +w1/v1@127.0.0.1:41234 +job-7 +- +- *\n"
                  "cnn +1 +PENDING +- +- +- +job-7 +- +worker w2 lost *\n"
                  "rnn +3 +LOADING +w2 +127.0.0.1:41235 +w1/v3@127.0.0.1:41234 +job-7 +- +- *\n"));
}

TEST_F(DeployCommandsTest, PredictWaitsForAReadyReplicaUntilTheWaitTimeout) {
  auto predict = [&](const std::string& model, const std::string& wait) {
    deployments_.gets = 0;
    return Capture([&] {
      return RunPredict(address_, {"--model", model, "--input", "x.npy", "--wait-timeout", wait});
    });
  };
  // LOADING for good: asked every 100 ms until the timeout, then why.
  deployments_.script = {InState(v1::DEPLOYMENT_STATE_LOADING)};
  Result r = predict("mlp", "1");
  EXPECT_EQ(r.code, kExitInternal);
  EXPECT_EQ(r.err,
            "fornax: error: deployment 'mlp' has no READY replica after --wait-timeout: it is "
            "LOADING on worker w1\n");
  EXPECT_GE(deployments_.gets, 5);
  r = predict("mlp", "0");  // 0: asked once
  EXPECT_EQ(r.code, kExitInternal);
  EXPECT_EQ(deployments_.gets, 1);

  deployments_.script = {InState(v1::DEPLOYMENT_STATE_PENDING, "worker w1 lost")};
  r = predict("mlp", "0");
  EXPECT_EQ(r.err,
            "fornax: error: deployment 'mlp' has no READY replica after --wait-timeout: it is "
            "PENDING: worker w1 lost\n");

  // FAILED ends the wait at once, with the worker's reason.
  deployments_.script = {InState(v1::DEPLOYMENT_STATE_LOADING),
                         InState(v1::DEPLOYMENT_STATE_FAILED, "corrupt archive")};
  r = predict("mlp", "30");
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_EQ(r.err, "fornax: error: deployment 'mlp' FAILED on worker w1: corrupt archive\n");
  EXPECT_EQ(deployments_.gets, 2);

  // A READY replica that does not answer (nothing listens there) is asked
  // again until the timeout; the error names the last try.
  v1::Deployment gone = InState(v1::DEPLOYMENT_STATE_READY);
  gone.mutable_serving()->set_endpoint("127.0.0.1:1");
  deployments_.script = {gone};
  r = predict("mlp", "1");
  EXPECT_EQ(r.code, kExitInternal);
  EXPECT_THAT(r.err, ::testing::StartsWith(
                         "fornax: error: deployment 'mlp': no replica answered within "
                         "--wait-timeout; last try: predict: ModelMetadata on 127.0.0.1:1: "));
  EXPECT_GE(deployments_.gets, 5);

  // A coordinator that cannot be reached (here: says UNAVAILABLE) is asked
  // again within the wait, said once on stderr; with 0, not at all.
  deployments_.unavailable = 3;
  deployments_.script = {InState(v1::DEPLOYMENT_STATE_FAILED, "corrupt archive")};
  r = predict("mlp", "30");
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_EQ(r.err, "predict: --model mlp: no such file; asking for deployment 'mlp': coordinator " +
                       address_ +
                       " unavailable: restarting; asking again until --wait-timeout\n"
                       "fornax: error: deployment 'mlp' FAILED on worker w1: corrupt archive\n");
  EXPECT_EQ(deployments_.gets, 4);
  deployments_.unavailable = 1000;
  r = predict("mlp", "1");
  EXPECT_EQ(r.code, kExitInternal);
  EXPECT_THAT(r.err, ::testing::EndsWith("fornax: error: predict: --model mlp: no such file; "
                                         "asking for deployment 'mlp': coordinator " +
                                         address_ + " unavailable: restarting\n"));
  EXPECT_GE(deployments_.gets, 4);
  deployments_.unavailable = 1000;
  r = predict("mlp", "0");
  EXPECT_EQ(r.code, kExitInternal);
  EXPECT_EQ(deployments_.gets, 1);
  deployments_.unavailable = 0;
  // Nothing listens there (a wrong --coordinator): refused, waited for the
  // same way.
  r = Capture([&] {
    return RunPredict("127.0.0.1:1", {"--model", "mlp", "--input", "x.npy", "--wait-timeout", "1"});
  });
  EXPECT_EQ(r.code, kExitInternal);
  const std::string refused =
      "predict: --model mlp: no such file; asking for deployment 'mlp': coordinator 127.0.0.1:1 "
      "unavailable: ";
  EXPECT_THAT(r.err, ::testing::StartsWith(refused));
  EXPECT_THAT(r.err, HasSubstr("; asking again until --wait-timeout\nfornax: error: " + refused));

  r = predict("mlp", "soon");
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_EQ(r.err,
            "fornax: error: predict: --wait-timeout: expected seconds in [0, 86400], got "
            "'soon'\n");
  r = predict("gone", "30");
  EXPECT_EQ(r.code, kExitBadInput);
  EXPECT_EQ(r.err, "fornax: error: predict: --model gone: no such file, and coordinator " +
                       address_ + " has no deployment 'gone' (fornax deployments lists them)\n");
}

}  // namespace
}  // namespace fornax
