// Test helpers: a coordinator served in-process on a loopback port, clients
// for its four services, and a hand-driven fake worker.
#ifndef FORNAX_SERVER_TEST_CLUSTER_H_
#define FORNAX_SERVER_TEST_CLUSTER_H_

#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "engine/data/test_files.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/fornax/v1/datasets.grpc.pb.h"
#include "proto/fornax/v1/deployments.grpc.pb.h"
#include "proto/fornax/v1/jobs.grpc.pb.h"
#include "proto/fornax/v1/workers.grpc.pb.h"
#include "server/coordinator_server.h"
#include "server/test_dir.h"

namespace fornax::server {

inline std::string Sha256Hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), length));
}

inline std::string ReadSourceFile(const std::string& relative) {
  return testing::ReadFileOrEmpty(testing::SourceDir() + "/" + relative);
}

// Polls `done` every 10 ms for up to `timeout_ms`; its last answer.
inline bool WaitFor(const std::function<bool()>& done, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class TestCluster {
 public:
  explicit TestCluster(ServerOptions options = {}) : options_(std::move(options)) {
    options_.listen = "127.0.0.1:0";
    options_.metrics_listen = "";
    options_.coordinator.data_dir = dir_.Join("data");
    Start();
  }

  // Stops the coordinator and starts a new one on the same data dir, like a
  // restart after a crash (the state is whatever SQLite committed).
  void Restart() {
    server_.reset();
    Start();
  }
  void Stop() { server_.reset(); }

  CoordinatorServer& server() { return *server_; }
  v1::Jobs::Stub& jobs() { return *jobs_; }
  v1::Datasets::Stub& datasets() { return *datasets_; }
  v1::Workers::Stub& workers() { return *workers_; }
  v1::Deployments::Stub& deployments() { return *deployments_; }

  // Uploads `bytes` as a dataset named `name`; returns its sha256.
  std::string Upload(const std::string& name, const std::string& bytes) {
    grpc::ClientContext context;
    v1::Dataset dataset;
    auto writer = datasets_->UploadDataset(&context, &dataset);
    v1::UploadDatasetRequest header;
    header.mutable_header()->set_name(name);
    header.mutable_header()->set_sha256(Sha256Hex(bytes));
    header.mutable_header()->set_size_bytes(static_cast<int64_t>(bytes.size()));
    writer->Write(header);
    v1::UploadDatasetRequest data;
    data.set_data(bytes);
    writer->Write(data);
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return dataset.sha256();
  }

  // A valid spec: the MLP example's model, training on one uploaded file.
  v1::JobSpec ValidSpec(int priority = 0) {
    if (data_sha_.empty()) data_sha_ = Upload("train.npz", "not really an npz, never read");
    v1::JobSpec spec;
    spec.set_name("mlp");
    spec.set_priority(priority);
    spec.set_model_json(ReadSourceFile("examples/fashion_mlp/model.json"));
    const std::string path = "inputs/" + data_sha_ + "/train.npz";
    spec.set_job_yaml(
        "model: model.json\ncompile: {loss: sparse_categorical_crossentropy}\n"
        "fit: {epochs: 2, batch_size: 8}\n"
        "data:\n  train:\n    x: " +
        path + ":x\n    y: " + path + ":y\n");
    v1::InputFile* input = spec.add_inputs();
    input->set_path(path);
    input->set_sha256(data_sha_);
    return spec;
  }

  grpc::Status Submit(const v1::JobSpec& spec, v1::Job* job) {
    grpc::ClientContext context;
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    return jobs_->SubmitJob(&context, request, job);
  }

  v1::Job Get(const std::string& job_id) {
    grpc::ClientContext context;
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    v1::Job job;
    grpc::Status status = jobs_->GetJob(&context, request, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return job;
  }

 private:
  void Start() {
    auto server = CoordinatorServer::Start(options_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto channel = grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
    jobs_ = v1::Jobs::NewStub(channel);
    datasets_ = v1::Datasets::NewStub(channel);
    workers_ = v1::Workers::NewStub(channel);
    deployments_ = v1::Deployments::NewStub(channel);
  }

  TestDir dir_;
  ServerOptions options_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::Jobs::Stub> jobs_;
  std::unique_ptr<v1::Datasets::Stub> datasets_;
  std::unique_ptr<v1::Workers::Stub> workers_;
  std::unique_ptr<v1::Deployments::Stub> deployments_;
  std::string data_sha_;
};

// A worker driven by the test: registers, holds a Lease stream, reads what
// comes down it, and reports events. Like a real worker, its heartbeats list
// the jobs it runs: those it registered with and was not told to abandon,
// plus each assignment Next() returned, less each attempt it reported a
// result for; set_running() overrides that. Heartbeat() may run on a thread
// of its own while another one reads (Next, HeartbeatAndWait), and on
// several threads at once (its writes are serialized: a gRPC stream allows
// one write in flight).
class FakeWorker {
 public:
  FakeWorker(v1::Workers::Stub* stub, std::string name, int slots = 1)
      : stub_(stub), name_(std::move(name)), slots_(slots) {}
  ~FakeWorker() { CloseLease(); }
  const std::string& name() const { return name_; }

  // A worker that hosts models registers with where it serves them.
  void set_inference_address(std::string address) { inference_address_ = std::move(address); }

  v1::RegisterResponse Register(const std::vector<v1::RunningJob>& running = {},
                                const std::vector<v1::HostedModel>& hosted = {}) {
    grpc::ClientContext context;
    v1::RegisterRequest request;
    request.set_worker_id(name_);
    request.set_hostname("localhost");
    request.mutable_capacity()->set_cpus(2);
    request.mutable_capacity()->set_slots(slots_);
    for (const auto& r : running) *request.add_running() = r;
    request.set_inference_address(inference_address_);
    for (const auto& h : hosted) *request.add_hosted() = h;
    v1::RegisterResponse response;
    grpc::Status status = stub_->Register(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    session_ = response.session_id();
    set_running(running);
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& r : response.abandon()) running_.erase({r.job_id(), r.attempt()});
    return response;
  }

  // What its heartbeats list from now on.
  void set_running(const std::vector<v1::RunningJob>& running) {
    std::lock_guard<std::mutex> lock(mu_);
    running_.clear();
    for (const auto& r : running) running_.insert({r.job_id(), r.attempt()});
  }

  void OpenLease() {
    lease_context_ = std::make_unique<grpc::ClientContext>();
    lease_ = stub_->Lease(lease_context_.get());
    beats_ = 0;
    acks_ = 0;
    pending_.clear();
    Heartbeat();
  }
  void Heartbeat(const std::vector<v1::HostedModel>& hosted = {}) {
    v1::LeaseRequest request;
    request.set_session_id(session_);
    for (const auto& h : hosted) *request.add_hosted() = h;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [job_id, attempt] : running_) {
        v1::RunningJob* r = request.add_running();
        r->set_job_id(job_id);
        r->set_attempt(attempt);
      }
    }
    std::lock_guard<std::mutex> lock(write_mu_);
    ++beats_;
    ASSERT_TRUE(lease_->Write(request));
  }
  // A heartbeat, then reads until the coordinator acknowledged it (it has
  // been applied); other messages that came meanwhile wait for Next().
  void HeartbeatAndWait(const std::vector<v1::HostedModel>& hosted = {}) {
    Heartbeat(hosted);
    v1::LeaseResponse response;
    while (acks_ < beats_ && lease_->Read(&response)) {
      if (response.kind_case() == v1::LeaseResponse::kHeartbeatAck) {
        ++acks_;
      } else {
        pending_.push_back(response);
      }
    }
  }
  // The next message that is not a heartbeat ack; an empty one when the
  // stream ended.
  v1::LeaseResponse Next() {
    v1::LeaseResponse response;
    if (!pending_.empty()) {
      response = pending_.front();
      pending_.pop_front();
      return Track(response);
    }
    while (lease_->Read(&response)) {
      if (response.kind_case() != v1::LeaseResponse::kHeartbeatAck) return Track(response);
      ++acks_;
    }
    return v1::LeaseResponse();
  }
  // Drops the stream the way a killed process would: no goodbye.
  void CloseLease() {
    if (!lease_) return;
    lease_context_->TryCancel();
    lease_->Finish().IgnoreError();
    lease_.reset();
  }

  // Workers.Leave on its current session, as a worker stopping on purpose
  // does after its last reports.
  grpc::Status Leave() {
    grpc::ClientContext context;
    v1::LeaveRequest request;
    request.set_session_id(session_);
    v1::LeaveResponse response;
    return stub_->Leave(&context, request, &response);
  }

  grpc::Status Report(const std::string& job_id, int32_t attempt,
                      const std::vector<v1::WorkerEvent>& events,
                      v1::ReportEventsResponse* response = nullptr) {
    grpc::ClientContext context;
    v1::ReportEventsRequest request;
    request.set_session_id(session_);
    request.set_job_id(job_id);
    request.set_attempt(attempt);
    bool result = false;
    for (const auto& e : events) {
      *request.add_events() = e;
      result = result || e.has_result();
    }
    v1::ReportEventsResponse ignored;
    grpc::Status status = stub_->ReportEvents(&context, request, response ? response : &ignored);
    if (status.ok() && result) {
      std::lock_guard<std::mutex> lock(mu_);
      running_.erase({job_id, attempt});
    }
    return status;
  }

  const std::string& session() const { return session_; }
  // Messages HeartbeatAndWait read that Next() has not returned yet.
  size_t pending() const { return pending_.size(); }

 private:
  const v1::LeaseResponse& Track(const v1::LeaseResponse& response) {
    if (response.has_assign()) {
      std::lock_guard<std::mutex> lock(mu_);
      running_.insert({response.assign().job_id(), response.assign().attempt()});
    }
    return response;
  }

  v1::Workers::Stub* stub_;
  std::string name_;
  int slots_;
  std::string inference_address_;
  std::string session_;
  std::unique_ptr<grpc::ClientContext> lease_context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::LeaseRequest, v1::LeaseResponse>> lease_;
  std::mutex write_mu_;  // one lease write at a time
  std::mutex mu_;
  std::set<std::pair<std::string, int32_t>> running_;  // guarded by mu_
  std::atomic<int64_t> beats_{0};                      // heartbeats written on this lease
  int64_t acks_ = 0;                                   // their acks read
  std::deque<v1::LeaseResponse> pending_;              // read by HeartbeatAndWait, not Next
};

// Heartbeats the workers every 50 ms on a thread of its own, for tests with
// short leases: a worker the test does not mean to lose stays alive however
// long a step takes on a loaded machine. Stop it (destroy it) before a
// worker's lease closes.
class Heartbeats {
 public:
  explicit Heartbeats(std::vector<FakeWorker*> workers)
      : workers_(std::move(workers)), thread_([this] {
          while (!stop_.load()) {
            for (FakeWorker* w : workers_) w->Heartbeat();
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }) {}
  ~Heartbeats() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::vector<FakeWorker*> workers_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

inline v1::WorkerEvent LogEvent(int64_t worker_sequence, const std::string& text) {
  v1::WorkerEvent e;
  e.set_worker_sequence(worker_sequence);
  e.mutable_log()->set_text(text);
  e.mutable_log()->set_stream("stdout");
  return e;
}

inline v1::WorkerEvent ResultEvent(int64_t worker_sequence, bool succeeded) {
  v1::WorkerEvent e;
  e.set_worker_sequence(worker_sequence);
  e.mutable_result()->set_succeeded(succeeded);
  if (!succeeded) {
    e.mutable_result()->mutable_failure()->set_exit_code(-1);
    e.mutable_result()->mutable_failure()->set_signal(9);
  }
  return e;
}

// The result a worker sends for an attempt it stopped to shut down.
inline v1::WorkerEvent PreemptedEvent(int64_t worker_sequence) {
  v1::WorkerEvent e;
  e.set_worker_sequence(worker_sequence);
  e.mutable_result()->set_preempted(true);
  return e;
}

}  // namespace fornax::server

#endif  // FORNAX_SERVER_TEST_CLUSTER_H_
