// CoordinatorLink against a coordinator whose connection answers late (far
// away, or busy): the worker must wait for the handshake instead of timing
// out every connection attempt after gRPC's minimum connect timeout.
#include "worker/coordinator_link.h"

#include <chrono>
#include <memory>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/delaying_proxy_test_util.h"

namespace fornax::worker {
namespace {

// Deployments with no method implemented: a call that reaches it is
// UNIMPLEMENTED, which tells a call that got through from one that did not.
class NoDeployments final : public fornax::v1::Deployments::Service {};

TEST(CoordinatorLinkTest, ACoordinatorThatAnswersItsConnectionLateIsWaitedFor) {
  NoDeployments service;
  int port = 0;
  std::unique_ptr<grpc::Server> server = testing::StartLoopbackServer(&service, &port);
  ASSERT_NE(server, nullptr);
  // 700 ms: over the 100 ms minimum connect timeout the link once set.
  testing::DelayingProxy proxy(port, std::chrono::milliseconds(700));

  CoordinatorLink link(proxy.address());
  absl::StatusOr<fornax::v1::ListDeploymentsResponse> listed =
      link.ListDeployments(std::chrono::seconds(30));
  EXPECT_EQ(listed.status().code(), absl::StatusCode::kUnimplemented) << listed.status();
  link.Shutdown();
  server->Shutdown();
}

}  // namespace
}  // namespace fornax::worker
