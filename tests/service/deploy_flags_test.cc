// fornax-worker's deployment flags followed from its command line to what a
// client sees, with real processes: --old-version-grace decides how long a
// version replaced by a redeploy still answers requests that name it, and
// --model-loads how many deployments the worker downloads and loads at once.
// (worker_main_test covers the parsing, the model host tests the behaviour
// behind a given ModelHostOptions.)
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A client of one served model that names the version it wants, as
// tritonclient with model_version or a `fornax predict` under way does.
class PinnedClient {
 public:
  PinnedClient(const std::string& endpoint, const std::string& name)
      : stub_(inference::GRPCInferenceService::NewStub(
            grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()))) {
    inference::ModelMetadataRequest request;
    request.set_name(name);
    inference::ModelMetadataResponse metadata;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const grpc::Status status = stub_->ModelMetadata(&context, request, &metadata);
    EXPECT_TRUE(status.ok()) << status.error_message();
    // One all-zeros row of every input.
    request_.set_model_name(name);
    for (const auto& tensor : metadata.inputs()) {
      auto* input = request_.add_inputs();
      input->set_name(tensor.name());
      input->set_datatype(tensor.datatype());
      int64_t elements = 1;
      for (int64_t dim : tensor.shape()) {
        input->add_shape(dim < 0 ? 1 : dim);
        elements *= dim < 0 ? 1 : dim;
      }
      request_.add_raw_input_contents(std::string(static_cast<size_t>(elements) * 4, '\0'));
    }
  }

  grpc::Status Infer(const std::string& version) {
    inference::ModelInferRequest request = request_;
    request.set_model_version(version);
    inference::ModelInferResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const grpc::Status status = stub_->ModelInfer(&context, request, &response);
    if (status.ok()) {
      EXPECT_EQ(response.outputs_size(), 1);
    }
    return status;
  }

 private:
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  inference::ModelInferRequest request_;
};

class DeployFlagsTest : public ServiceTest {
 protected:
  // Deploys `job` as `name` (version 1 READY on worker `worker`), checks that
  // a client pinned to version 1 gets answers, then deploys it again and
  // waits until version 2 answers there; `replaced` is when it first did.
  void DeployTwice(const std::string& address, const std::string& job, const std::string& name,
                   const std::string& worker, std::unique_ptr<PinnedClient>& client,
                   Clock::time_point& replaced) {
    CliResult deploy = RunCli(address, {"deploy", job, "--name", name});
    ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
    ASSERT_THAT(deploy.out, HasSubstr("version 1 READY on worker " + worker));
    const v1::Deployment d = GetDeployment(address, name);
    client = std::make_unique<PinnedClient>(d.endpoint(), name);
    const grpc::Status before = client->Infer("1");
    ASSERT_TRUE(before.ok()) << before.error_message();

    deploy = RunCli(address, {"deploy", job, "--name", name, "--no-wait"});
    ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(60);
    grpc::Status v2;
    while (!(v2 = client->Infer("2")).ok() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    replaced = Clock::now();
    ASSERT_TRUE(v2.ok()) << "version 2 never answered: " << v2.error_message();
  }
};

// --old-version-grace 3: after version 2 replaced it, version 1 still
// answers clients that name it for 3 s, then NOT_FOUND; with 0, NOT_FOUND as
// soon as version 2 answers. (The default is 5 s, so a worker that ignored
// the flag fails both halves.)
TEST_F(DeployFlagsTest, OldVersionGraceIsHowLongAReplacedVersionStillAnswers) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator(0, /*lease_timeout_ms=*/0);
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> grace3 =
      StartWorker("grace3", *coordinator, {"--old-version-grace", "3"});
  ASSERT_NE(grace3, nullptr);
  const std::string job = TrainJob(address, 1);
  ASSERT_FALSE(job.empty());

  std::unique_ptr<PinnedClient> client;
  Clock::time_point replaced;
  ASSERT_NO_FATAL_FAILURE(DeployTwice(address, job, "g", "grace3", client, replaced));
  // Every 100 ms until the first refusal; the time before a call that
  // answered and after one that did not, so both bounds are conservative.
  int answers = 0;
  Clock::duration answered_until{}, refused_by{};
  grpc::Status refused;
  while (Clock::now() - replaced < std::chrono::seconds(10)) {
    const Clock::duration sent = Clock::now() - replaced;
    const grpc::Status status = client->Infer("1");
    if (!status.ok()) {
      refused = status;
      refused_by = Clock::now() - replaced;
      break;
    }
    ++answers;
    answered_until = sent;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << "--old-version-grace 3: version 1 answered " << answers << " calls, the last sent "
            << Seconds(answered_until) << " s after version 2 answered; refused by "
            << Seconds(refused_by) << " s\n";
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::NOT_FOUND) << refused.error_message();
  EXPECT_THAT(refused.error_message(),
              HasSubstr("model 'g' version '1' is not served; the serving version is 2"));
  EXPECT_GE(answered_until, std::chrono::seconds(2));
  EXPECT_LE(refused_by, std::chrono::seconds(4));  // the default 5 s would still answer
  EXPECT_TRUE(client->Infer("").ok());             // naming no version: version 2

  // --old-version-grace 0, on a worker of its own: grace3 leaves first so the
  // deployment can only go there.
  CliResult undeploy = RunCli(address, {"undeploy", "g"});
  ASSERT_EQ(undeploy.exit_code, 0) << undeploy.out << undeploy.err;
  grace3.reset();
  std::unique_ptr<Daemon> grace0 =
      StartWorker("grace0", *coordinator, {"--old-version-grace", "0"});
  ASSERT_NE(grace0, nullptr);
  ASSERT_NO_FATAL_FAILURE(DeployTwice(address, job, "z", "grace0", client, replaced));
  const grpc::Status at_once = client->Infer("1");
  std::cout << "--old-version-grace 0: version 1, asked " << Seconds(Clock::now() - replaced) * 1000
            << " ms after version 2 answered: " << at_once.error_code() << " "
            << at_once.error_message() << "\n";
  EXPECT_EQ(at_once.error_code(), grpc::StatusCode::NOT_FOUND) << at_once.error_message();
  EXPECT_THAT(at_once.error_message(),
              HasSubstr("model 'z' version '1' is not served; the serving version is 2"));
}

// --model-loads 1: three deployments reach the worker at once, and only one
// download+load runs while the others wait for its slot. The coordinator is
// stopped (SIGSTOP) once the worker has the three HostModels, so the download
// that got the slot cannot finish and keeps it; the worker's log then shows
// how many are in flight. (The default, 2, would have two.)
TEST_F(DeployFlagsTest, ModelLoadsIsHowManyDeploymentsLoadAtOnce) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator(0, /*lease_timeout_ms=*/0);  // 10 s
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> w1 = StartWorker("w1", *coordinator, {"--model-loads", "1"});
  ASSERT_NE(w1, nullptr);
  const std::string job = TrainJob(address, 1);
  ASSERT_FALSE(job.empty());

  // The worker is stopped while the three are placed, so all three
  // HostModels are waiting for it when it goes on.
  const std::vector<std::string> names = {"m1", "m2", "m3"};
  w1->Signal(SIGSTOP);
  for (const std::string& name : names) {
    CliResult deploy = RunCli(address, {"deploy", job, "--name", name, "--no-wait"});
    EXPECT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // HostModels written to w1
  coordinator->Signal(SIGSTOP);
  w1->Signal(SIGCONT);
  // Each host first reports LOADING (waiting at most 1 s for that to go
  // out), then waits for a slot; the one with it waits for the coordinator.
  // The hosts reach their slots together, so a second load would start
  // within moments of the first: wait for the first (however slow the
  // machine), then 1.5 s more. The coordinator stays stopped well under
  // its 10 s lease timeout, which would otherwise drop w1.
  auto count = [](const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  const Clock::time_point first_by = Clock::now() + std::chrono::seconds(6);
  while (count(WorkerLog("w1"), "hosting model m") == 0 && Clock::now() < first_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // Loads in flight: started and not ended. A load that got its download
  // through before the coordinator stopped (seen once under load) has
  // ended and gave its slot back; one that is stuck has not.
  const std::string stopped_log = WorkerLog("w1");
  const int in_flight = count(stopped_log, "w1: hosting model m") -
                        count(stopped_log, "w1: model m");  // "... ready" or "... failed: ..."
  coordinator->Signal(SIGCONT);

  int ready = 0;
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(60);
  while (ready < 3 && Clock::now() < deadline) {
    ready = 0;
    for (const std::string& name : names) {
      ready += GetDeployment(address, name).state() == v1::DEPLOYMENT_STATE_READY;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string log = WorkerLog("w1");
  std::cout << "--model-loads 1: " << in_flight
            << " of 3 downloads+loads in flight while the coordinator was stopped; " << ready
            << " READY after it went on\n";
  EXPECT_EQ(in_flight, 1) << stopped_log;
  EXPECT_EQ(ready, 3);
  EXPECT_EQ(count(log, "hosting model m"), 3) << log;
  for (const std::string& name : names) {
    EXPECT_THAT(log, HasSubstr("model " + name + " version 1 ready")) << log;
  }
}

}  // namespace
}  // namespace fornax::service_testing
