// InferenceService: ModelInfer and ModelStreamInfer.
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"
#include "server/inference/inference_service.h"

namespace fornax::serving {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NanosSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// One ModelStreamInfer call: each request read is inferred as it arrives;
// responses are written one at a time in completion order (requests of one
// model complete in arrival order). The call finishes once the client has
// half-closed and every response is written.
class StreamReactor final : public grpc::ServerBidiReactor<inference::ModelInferRequest,
                                                           inference::ModelStreamInferResponse> {
 public:
  explicit StreamReactor(InferenceService* service) : service_(service) { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(mu_);
      reads_done_ = true;
      MaybeFinish();
      return;
    }
    auto request = std::make_shared<inference::ModelInferRequest>(std::move(request_));
    auto response = std::make_shared<inference::ModelStreamInferResponse>();
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
    }
    service_->Infer(*request, response->mutable_infer_response(),
                    [this, request, response](absl::Status status) {
                      if (!status.ok()) {
                        response->set_error_message(std::string(status.message()));
                      }
                      // StartWrite outside mu_: once it is called the call may
                      // finish and delete this reactor before the lock is released.
                      inference::ModelStreamInferResponse* next = nullptr;
                      {
                        std::lock_guard<std::mutex> lock(mu_);
                        --in_flight_;
                        pending_.push_back(response);
                        if (!writing_) next = TakeNextWrite();
                      }
                      if (next != nullptr) StartWrite(next);
                    });
    request_.Clear();
    StartRead(&request_);
  }

  void OnWriteDone(bool /*ok*/) override {
    // A failed write means the client is gone; later writes fail fast too,
    // and the call still finishes once every inference has come back.
    inference::ModelStreamInferResponse* next = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_.pop_front();
      writing_ = false;
      if (!pending_.empty()) {
        next = TakeNextWrite();
      } else {
        MaybeFinish();
      }
    }
    if (next != nullptr) StartWrite(next);
  }

  void OnDone() override { delete this; }

 private:
  // The response to write next, marked as being written.
  // REQUIRES: mu_ held, pending_ not empty.
  inference::ModelStreamInferResponse* TakeNextWrite() {
    writing_ = true;
    return pending_.front().get();
  }
  // REQUIRES: mu_ held.
  void MaybeFinish() {
    if (reads_done_ && in_flight_ == 0 && pending_.empty() && !writing_ && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  InferenceService* service_;
  inference::ModelInferRequest request_;  // the read in progress
  std::mutex mu_;
  int in_flight_ = 0;                                                         // guarded by mu_
  std::deque<std::shared_ptr<inference::ModelStreamInferResponse>> pending_;  // guarded by mu_
  bool writing_ = false;                                                      // guarded by mu_
  bool reads_done_ = false;                                                   // guarded by mu_
  bool finished_ = false;                                                     // guarded by mu_
};

}  // namespace

void InferenceService::Infer(const inference::ModelInferRequest& request,
                             inference::ModelInferResponse* response,
                             std::function<void(absl::Status)> done) {
  const Clock::time_point start = Clock::now();
  response->set_model_name(request.model_name());
  response->set_id(request.id());
  absl::StatusOr<std::shared_ptr<ServedModel>> found =
      repository_->Lookup(request.model_name(), request.model_version());
  if (!found.ok()) {
    done(found.status());
    return;
  }
  const std::shared_ptr<ServedModel> model = *std::move(found);
  response->set_model_version(std::to_string(model->version));
  absl::StatusOr<DecodedRequest> decoded =
      DecodeInferRequest(request, model->signature, shared_memory_);
  if (!decoded.ok()) {
    model->stats->RecordFailure(NanosSince(start));
    done(decoded.status());
    return;
  }
  // The batcher drains before the model is destroyed, so the raw pointer
  // outlives the callback (a shared_ptr there could make the batcher's own
  // thread destroy it). `requested` holds the output regions open until
  // the reply is encoded.
  const ServedModel* served = model.get();
  model->batcher->Submit(
      std::move(decoded->inputs),
      [served, response, start, rows = decoded->batch, requested = std::move(decoded->outputs),
       done = std::move(done)](absl::StatusOr<std::vector<Tensor>> outputs,
                               const RequestTiming& timing) {
        if (!outputs.ok()) {
          served->stats->RecordFailure(NanosSince(start));
          done(outputs.status());
          return;
        }
        absl::Status encoded =
            EncodeInferResponse(*outputs, requested, served->signature, response);
        if (!encoded.ok()) {
          // No half-encoded outputs in a stream's error response.
          response->clear_outputs();
          response->clear_raw_output_contents();
          served->stats->RecordFailure(NanosSince(start));
          done(encoded);
          return;
        }
        served->stats->RecordSuccess(NanosSince(start), timing, rows);
        done(absl::OkStatus());
      });
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* context,
                                                       const inference::ModelInferRequest* request,
                                                       inference::ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Infer(*request, response,
        [reactor](absl::Status status) { reactor->Finish(server::ToGrpc(status)); });
  return reactor;
}

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
InferenceService::ModelStreamInfer(grpc::CallbackServerContext*) {
  return new StreamReactor(this);
}

}  // namespace fornax::serving
