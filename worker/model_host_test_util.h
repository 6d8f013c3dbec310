// ModelHostTest (tests only): a worker (its own binary, work dir and
// inference endpoint) on a fake coordinator that hosts models on it down a
// real lease, with what the model host tests ask of both: host and unhost a
// checkpoint, wait for a reported state, call the endpoint over gRPC. Shared
// by model_host_test.cc and model_host_control_test.cc.
#ifndef FORNAX_WORKER_MODEL_HOST_TEST_UTIL_H_
#define FORNAX_WORKER_MODEL_HOST_TEST_UTIL_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "worker/fake_coordinator_test_util.h"
#include "worker/test_jobs.h"
#include "worker/worker.h"

namespace fornax::worker {

inline std::string Archive(const std::string& name) {
  return testing::ReadFileOrEmpty(testing::SourceDir() + "/tests/testdata/archives/" + name);
}

inline std::string Digest(const std::string& bytes) {
  Sha256 hash;
  hash.Update(bytes);
  return hash.HexDigest();
}

class ModelHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    coordinator_.Start();
    StartWorker();
  }
  void TearDown() override {
    StopWorker();
    coordinator_.Stop();
  }

  void StartWorker() {
    WorkerConfig config;
    config.coordinator = coordinator_.address();
    config.name = "w1";
    config.work_dir = dir_.File("work");
    config.metrics_listen = "127.0.0.1:0";
    config.capacity.set_slots(1);
    config.binary = FORNAX_WORKER_BIN;
    config.drain_timeout_ms = drain_timeout_ms_;
    absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Create(config);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = *std::move(worker);
    const size_t registered = Registrations();
    thread_ = std::thread([this] { worker_->Run(); });
    ASSERT_TRUE(
        coordinator_.WaitFor([&] { return coordinator_.registrations.size() > registered; }));
    const std::string address = coordinator_.registrations.back().inference_address();
    ASSERT_EQ(address, worker_->inference_address());
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  void StopWorker() {
    if (worker_) worker_->Shutdown();
    if (thread_.joinable()) thread_.join();
    worker_.reset();
  }
  size_t Registrations() {
    size_t n = 0;
    coordinator_.WaitFor([&] {
      n = coordinator_.registrations.size();
      return true;
    });
    return n;
  }

  // Stores `bytes` as checkpoint `id` and asks the worker to host it.
  void Host(const std::string& name, int64_t version, const std::string& id,
            const std::string& bytes, const std::string& sha256 = "") {
    coordinator_.AddCheckpoint(id, bytes);
    v1::LeaseResponse message;
    v1::HostModel* host = message.mutable_host();
    host->set_name(name);
    host->set_version(version);
    host->set_checkpoint_id(id);
    host->set_sha256(sha256.empty() ? Digest(bytes) : sha256);
    host->set_size_bytes(static_cast<int64_t>(bytes.size()));
    coordinator_.Send(message);
  }
  void Unhost(const std::string& name) {
    v1::LeaseResponse message;
    message.mutable_unhost()->set_name(name);
    coordinator_.Send(message);
  }
  // Waits for the worker to report `name` at `version` in `state`; the report.
  v1::HostedModel WaitState(const std::string& name, int64_t version,
                            v1::HostedModel::State state) {
    v1::HostedModel found;
    const bool reached = coordinator_.WaitFor([&] {
      auto it = coordinator_.hosted.find(name);
      if (it == coordinator_.hosted.end() || it->second.version() != version ||
          it->second.state() != state) {
        return false;
      }
      found = it->second;
      return true;
    });
    EXPECT_TRUE(reached) << name << " v" << version << " never reached "
                         << v1::HostedModel::State_Name(state);
    return found;
  }
  // The states reported for `name`, in order, as "v1:LOADING v1:READY".
  std::string Changes(const std::string& name) {
    std::string out;
    coordinator_.WaitFor([&] {
      for (const v1::HostedModel& m : coordinator_.hosted_changes) {
        if (m.name() != name) continue;
        absl::StrAppend(&out, out.empty() ? "" : " ", "v", m.version(), ":",
                        v1::HostedModel::State_Name(m.state()).substr(6));
      }
      return true;
    });
    return out;
  }
  bool WaitChanges(const std::string& name, const std::string& expected) {
    for (int i = 0; i < 300; ++i) {
      if (Changes(name) == expected) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  bool Ready(const std::string& name, const std::string& version = "") {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest request;
    request.set_name(name);
    request.set_version(version);
    inference::ModelReadyResponse response;
    const grpc::Status status = stub_->ModelReady(&ctx, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.ready();
  }
  // One all-zeros row through `name`: the output's shape, or the error.
  std::string Infer(const std::string& name) {
    inference::ModelMetadataResponse metadata;
    {
      grpc::ClientContext ctx;
      inference::ModelMetadataRequest request;
      request.set_name(name);
      grpc::Status status = stub_->ModelMetadata(&ctx, request, &metadata);
      if (!status.ok()) return status.error_message();
    }
    grpc::ClientContext ctx;
    inference::ModelInferRequest request;
    request.set_model_name(name);
    int64_t elements = 1;
    for (const auto& tensor : metadata.inputs()) {
      auto* input = request.add_inputs();
      input->set_name(tensor.name());
      input->set_datatype(tensor.datatype());
      elements = 1;
      for (int64_t dim : tensor.shape()) {
        input->add_shape(dim < 0 ? 1 : dim);
        elements *= dim < 0 ? 1 : dim;
      }
      request.add_raw_input_contents(std::string(static_cast<size_t>(elements) * 4, '\0'));
    }
    inference::ModelInferResponse response;
    grpc::Status status = stub_->ModelInfer(&ctx, request, &response);
    if (!status.ok()) return status.error_message();
    std::string shape;
    for (int64_t dim : response.outputs(0).shape()) absl::StrAppend(&shape, "[", dim, "]");
    return shape;
  }
  std::string Models() const { return dir_.File("work/models"); }

  // What the coordinator says of deployment `name` served here (v1) while
  // it moves to w2: still LOADING there, or READY.
  void Moving(const std::string& name, bool ready_there) {
    v1::Deployment d;
    d.set_name(name);
    d.set_version(1);
    d.set_worker_id("w2");
    d.set_state(ready_there ? v1::DEPLOYMENT_STATE_READY : v1::DEPLOYMENT_STATE_LOADING);
    d.mutable_serving()->set_worker_id(ready_there ? "w2" : "w1");
    d.mutable_serving()->set_version(1);
    coordinator_.WaitFor([&] {
      coordinator_.deployments = {d};
      return true;
    });
  }
  // Waits for the worker's lease: a heartbeat after its registration (a
  // worker leaves, and so drains, only with a lease).
  bool LeaseHeld() {
    int64_t before = 0;
    coordinator_.WaitFor([&] {
      before = coordinator_.lease_requests;
      return true;
    });
    return coordinator_.WaitFor([&] { return coordinator_.lease_requests > before; }, 10);
  }
  // Waits until the stopping worker asked for the deployments `n` more times.
  bool AskedAgain(int n) {
    int asked = 0;
    coordinator_.WaitFor([&] {
      asked = coordinator_.deployment_lists;
      return true;
    });
    return coordinator_.WaitFor([&] { return coordinator_.deployment_lists >= asked + n; }, 10);
  }
  static int64_t MsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
  }

  int64_t drain_timeout_ms_ = 30000;
  testing::TempDir dir_;
  testing::FakeCoordinator coordinator_;
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_MODEL_HOST_TEST_UTIL_H_
