// ServiceClient against a coordinator whose connection answers late (far
// away, or busy): a one-shot command must wait for the handshake instead of
// failing UNAVAILABLE after gRPC's minimum connect timeout.
#include "client/service_client.h"

#include <chrono>
#include <memory>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/delaying_proxy_test_util.h"

namespace fornax {
namespace {

// Jobs with no method implemented: every call that reaches it is
// UNIMPLEMENTED, which tells a call that got through from one that did not.
class NoJobs final : public v1::Jobs::Service {};

TEST(ServiceClientTest, ACoordinatorThatAnswersItsConnectionLateIsWaitedFor) {
  NoJobs service;
  int port = 0;
  std::unique_ptr<grpc::Server> server = testing::StartLoopbackServer(&service, &port);
  ASSERT_NE(server, nullptr);
  // 700 ms: over the 200 ms minimum connect timeout the client once set,
  // far under the call's 30 s deadline.
  testing::DelayingProxy proxy(port, std::chrono::milliseconds(700));

  ServiceClient client(proxy.address());
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<v1::Job> job = client.GetJob("job-1");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnimplemented) << job.status();
  EXPECT_GE(took, std::chrono::milliseconds(700));
  server->Shutdown();
}

}  // namespace
}  // namespace fornax
