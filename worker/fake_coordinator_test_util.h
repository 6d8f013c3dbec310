// FakeCoordinator (tests only): the Workers service on a real loopback gRPC
// server, recording what a worker registers, reports and uploads, and
// handing it assignments, cancels and model hosting down the lease stream
// (and noting its Leave), refusing the checkpoints a test says, and
// Deployments.ListDeployments answering `deployments` (a stopping worker
// asks it while it drains). Its state outlives Stop()/Start() on the same
// port, which is how the tests take the coordinator away and bring it back.
#ifndef FORNAX_WORKER_FAKE_COORDINATOR_TEST_UTIL_H_
#define FORNAX_WORKER_FAKE_COORDINATOR_TEST_UTIL_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/data/sha256.h"
#include "grpcpp/grpcpp.h"
#include "proto/fornax/v1/deployments.grpc.pb.h"
#include "proto/fornax/v1/workers.grpc.pb.h"

namespace fornax::worker::testing {

namespace v1 = fornax::v1;

class FakeCoordinator : public v1::Workers::Service {
 public:
  ~FakeCoordinator() override { Stop(); }

  // Port 0 picks one; later Starts reuse it.
  void Start() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port_), grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(this);
    builder.RegisterService(&deployments_service_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = false;
    }
    server_ = builder.BuildAndStart();
  }
  void Stop() {
    if (!server_) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_.reset();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  void AddDataset(const std::string& sha, std::string bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    files_[sha] = std::move(bytes);
  }
  // Served by DownloadCheckpoint under `id`.
  void AddCheckpoint(const std::string& id, std::string bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    checkpoint_bytes[id] = std::move(bytes);
  }
  // Runs `hook` in each Leave call, before it is recorded.
  void OnLeave(std::function<void()> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    on_leave_ = std::move(hook);
  }
  void Send(v1::LeaseResponse message) {
    std::lock_guard<std::mutex> lock(mu_);
    outgoing_.push_back(std::move(message));
    cv_.notify_all();
  }
  // Waits up to `seconds` for `pred` (under the lock) to hold.
  bool WaitFor(const std::function<bool()>& pred, double seconds = 30) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double>(seconds), pred);
  }

  // What the worker sent; read under WaitFor or after the worker stopped.
  std::vector<v1::RegisterRequest> registrations;
  // By job id, then worker_sequence (tests run one attempt per job).
  std::map<std::string, std::map<int64_t, v1::WorkerEvent>> events;
  int64_t reports = 0;
  std::vector<v1::UploadCheckpointHeader> checkpoints;  // in upload order
  std::map<std::string, std::string> checkpoint_bytes;  // by sha256
  std::vector<size_t> checkpoints_at_epoch;  // checkpoints stored when each epoch's end came
  std::set<std::string> refuse;              // jobs whose reports get FAILED_PRECONDITION
  // Answers each checkpoint upload once its bytes are in (outside the lock);
  // a status other than OK refuses it. Every call's header, in order.
  std::function<grpc::Status(const v1::UploadCheckpointHeader&)> check_checkpoint;
  std::vector<v1::UploadCheckpointHeader> checkpoint_calls;
  int64_t max_checkpoint_bytes = 0;  // what Register says of the limit (0: nothing)
  // The hosted models of the last lease request, by name, and each new
  // (name, version, state) the lease requests reported, in order.
  std::map<std::string, v1::HostedModel> hosted;
  std::vector<v1::HostedModel> hosted_changes;
  int64_t lease_requests = 0;  // heartbeats and hosted-model updates, all sessions
  // From the last lease request too: the version still served while a newer
  // one of the name loads (listed before it), by name.
  std::map<std::string, v1::HostedModel> served_before;
  int unavailable_downloads = 0;  // the next N DownloadCheckpoint calls fail UNAVAILABLE
  int downloads = 0;              // DownloadCheckpoint calls
  // Sessions the worker left with (Workers.Leave), and `reports` when the
  // first Leave came.
  std::vector<std::string> leaves;
  int64_t reports_at_leave = -1;
  // What ListDeployments answers, and how many times it was called.
  std::vector<v1::Deployment> deployments;
  int deployment_lists = 0;

  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    registrations.push_back(*request);
    response->set_session_id(absl::StrCat("s", registrations.size()));
    response->set_heartbeat_interval_ms(100);
    response->set_lease_timeout_ms(2000);
    response->set_max_checkpoint_bytes(max_checkpoint_bytes);
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status Lease(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<v1::LeaseResponse, v1::LeaseRequest>* stream) override {
    bool reading = true;
    std::thread reader([&] {
      v1::LeaseRequest request;
      while (stream->Read(&request)) {
        std::lock_guard<std::mutex> lock(mu_);
        ++lease_requests;
        std::map<std::string, v1::HostedModel> now;
        served_before.clear();
        for (const v1::HostedModel& model : request.hosted()) {
          auto [it, added] = now.emplace(model.name(), model);
          if (!added) {  // an earlier entry of the name is the version served meanwhile
            served_before[model.name()] = it->second;
            it->second = model;
          }
        }
        for (const auto& [name, model] : now) {
          auto it = hosted.find(name);
          if (it == hosted.end() || it->second.version() != model.version() ||
              it->second.state() != model.state()) {
            hosted_changes.push_back(model);
          }
        }
        hosted.swap(now);
        cv_.notify_all();
      }
      std::lock_guard<std::mutex> lock(mu_);
      reading = false;
      cv_.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu_);
    while (reading && !stopping_ && !ctx->IsCancelled()) {
      cv_.wait_for(lock, std::chrono::milliseconds(100));
      v1::LeaseResponse ack;
      ack.set_heartbeat_ack(true);
      std::deque<v1::LeaseResponse> batch;
      batch.swap(outgoing_);
      batch.push_back(ack);
      lock.unlock();
      for (const v1::LeaseResponse& m : batch) stream->Write(m);
      lock.lock();
    }
    lock.unlock();
    ctx->TryCancel();
    reader.join();
    return grpc::Status::OK;
  }

  grpc::Status ReportEvents(grpc::ServerContext*, const v1::ReportEventsRequest* request,
                            v1::ReportEventsResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++reports;
    if (refuse.count(request->job_id())) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "not yours");
    }
    std::map<int64_t, v1::WorkerEvent>& job = events[request->job_id()];
    for (const v1::WorkerEvent& e : request->events()) {
      const bool added = job.emplace(e.worker_sequence(), e).second;
      if (added && e.has_epoch()) checkpoints_at_epoch.push_back(checkpoints.size());
    }
    int64_t acked = 0;
    while (job.count(acked + 1)) ++acked;
    response->set_acked_sequence(acked);
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status UploadCheckpoint(grpc::ServerContext*,
                                grpc::ServerReader<v1::UploadCheckpointRequest>* reader,
                                v1::CheckpointRecord* record) override {
    v1::UploadCheckpointRequest part;
    v1::UploadCheckpointHeader header;
    std::string bytes;
    while (reader->Read(&part)) {
      if (part.has_header()) header = part.header();
      bytes += part.data();
    }
    Sha256 hash;
    hash.Update(bytes);
    if (hash.HexDigest() != header.sha256()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "sha256 mismatch");
    }
    std::function<grpc::Status(const v1::UploadCheckpointHeader&)> check;
    {
      std::lock_guard<std::mutex> lock(mu_);
      checkpoint_calls.push_back(header);
      check = check_checkpoint;
      cv_.notify_all();
    }
    if (check) {
      grpc::Status checked = check(header);
      if (!checked.ok()) return checked;
    }
    std::lock_guard<std::mutex> lock(mu_);
    checkpoints.push_back(header);
    checkpoint_bytes[header.sha256()] = bytes;
    record->set_checkpoint_id(header.sha256());
    record->set_epoch(header.epoch());
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status Leave(grpc::ServerContext*, const v1::LeaveRequest* request,
                     v1::LeaveResponse*) override {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hook = on_leave_;
    }
    if (hook) hook();
    std::lock_guard<std::mutex> lock(mu_);
    if (leaves.empty()) reports_at_leave = reports;
    leaves.push_back(request->session_id());
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status DownloadDataset(grpc::ServerContext*, const v1::DownloadDatasetRequest* request,
                               grpc::ServerWriter<v1::DownloadDatasetChunk>* writer) override {
    return Serve(files_, request->sha256(), writer);
  }
  grpc::Status DownloadCheckpoint(grpc::ServerContext*,
                                  const v1::WorkerDownloadCheckpointRequest* request,
                                  grpc::ServerWriter<v1::DownloadDatasetChunk>* writer) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++downloads;
      if (unavailable_downloads > 0) {
        --unavailable_downloads;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "try again");
      }
    }
    return Serve(checkpoint_bytes, request->checkpoint_id(), writer);
  }

 private:
  class DeploymentsService : public v1::Deployments::Service {
   public:
    explicit DeploymentsService(FakeCoordinator* coordinator) : c_(coordinator) {}
    grpc::Status ListDeployments(grpc::ServerContext*, const v1::ListDeploymentsRequest*,
                                 v1::ListDeploymentsResponse* response) override {
      std::lock_guard<std::mutex> lock(c_->mu_);
      ++c_->deployment_lists;
      for (const v1::Deployment& d : c_->deployments) *response->add_deployments() = d;
      c_->cv_.notify_all();
      return grpc::Status::OK;
    }

   private:
    FakeCoordinator* const c_;
  };

  grpc::Status Serve(const std::map<std::string, std::string>& store, const std::string& key,
                     grpc::ServerWriter<v1::DownloadDatasetChunk>* writer) {
    std::string bytes;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = store.find(key);
      if (it == store.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, key);
      bytes = it->second;
    }
    for (size_t at = 0; at < bytes.size(); at += 1 << 20) {
      v1::DownloadDatasetChunk chunk;
      chunk.set_data(bytes.substr(at, 1 << 20));
      writer->Write(chunk);
    }
    return grpc::Status::OK;
  }

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<v1::LeaseResponse> outgoing_;
  std::function<void()> on_leave_;
  std::map<std::string, std::string> files_;
  DeploymentsService deployments_service_{this};
};

}  // namespace fornax::worker::testing

#endif  // FORNAX_WORKER_FAKE_COORDINATOR_TEST_UTIL_H_
