// DynamicBatcher: one model's request queue and the thread that runs it.
//
// Requests (each one or more rows of every model input) are queued in
// arrival order. The thread takes the oldest request and, with dynamic
// batching on, the requests behind it that have the same input signature
// (dtypes and non-batch dims), up to max_batch_size rows: it stops early at
// the largest preferred batch size it can form, and waits up to
// max_queue_delay_us after the oldest request arrived for more rows before
// running a smaller batch. The merged batch is one engine call; its outputs
// are split back by rows, so every request gets exactly its own rows, and
// requests complete in queue order. With dynamic batching off each request
// is one engine call.
//
// At low load a request skips the batch thread: one that finds nothing
// else of its model unanswered (queued, running, or with its reply still
// going out), arrives at least 100 us after the previous one, follows a
// batch of one request, and would run at once on its own (no queue delay to
// wait out) runs on the submitting thread. That saves a hop to the batch
// thread and back, and waking an idle thread costs more than the MLP's
// engine call. Under load requests queue for the batch thread and merge.
//
// The done callbacks of a batch of several requests run on a second, reply
// thread, so the batch thread goes on to the next batch while the replies
// are encoded and written (gRPC's Finish writes to the socket inline); a
// lone request with no replies pending is answered on the thread that ran
// it.
//
// Thread-safety: Submit may be called from any thread, and may run `run`
// and the done callback before it returns. One batch runs at a time; done
// callbacks run one at a time, in queue order. The destructor stops taking
// new work, runs everything still queued, delivers every reply, then joins.
#ifndef FORNAX_SERVER_INFERENCE_DYNAMIC_BATCHER_H_
#define FORNAX_SERVER_INFERENCE_DYNAMIC_BATCHER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/tensor/tensor.h"
#include "server/inference/batching_config.h"

namespace fornax::serving {

// Timing of one request, reported with its result.
struct RequestTiming {
  int64_t queue_ns = 0;    // enqueue -> its batch started running
  int64_t compute_ns = 0;  // the batch's engine call
  int64_t batch_rows = 0;  // rows in that engine call
};

// One engine call, reported once per batch (before the requests' callbacks).
struct ExecutionInfo {
  int64_t rows = 0;
  int64_t requests = 0;
  int64_t compute_ns = 0;
  bool ok = true;
};

class DynamicBatcher {
 public:
  // Runs one batch: inputs with `rows` rows each, in the model's order.
  using RunFn = std::function<absl::StatusOr<std::vector<Tensor>>(const std::vector<Tensor>&)>;
  // Receives this request's rows of every output, or the batch's error.
  using DoneFn = std::function<void(absl::StatusOr<std::vector<Tensor>>, const RequestTiming&)>;
  using ExecutionFn = std::function<void(const ExecutionInfo&)>;

  DynamicBatcher(BatchingConfig config, RunFn run, ExecutionFn on_execution = nullptr);
  ~DynamicBatcher();
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // REQUIRES: every input has the same number of rows, 1..max_batch_size.
  void Submit(std::vector<Tensor> inputs, DoneFn done);

 private:
  struct Request {
    std::vector<Tensor> inputs;
    DoneFn done;
    int64_t rows = 0;
    std::string signature;
    std::chrono::steady_clock::time_point enqueued;
  };

  // One request's result, ready to hand to its done callback.
  struct Reply {
    DoneFn done;
    absl::StatusOr<std::vector<Tensor>> outputs;
    RequestTiming timing;
  };

  void Loop();
  // Whether `request` can run now on the submitting thread (see above).
  // REQUIRES: mu_ held.
  bool RunsInline(const Request& request) const;
  void ReplyLoop();
  // Hands a batch's replies to their done callbacks: here for a lone
  // request when no reply is pending, else through the reply thread.
  void Deliver(std::vector<Reply> replies);
  // Counts `requests` whose done callbacks have returned.
  void Answered(size_t requests);
  // How many queued requests (from the front) form the next batch; 0 while
  // it should keep waiting. REQUIRES: mu_ held, queue_ not empty.
  size_t BatchLength(bool deadline_passed) const;
  void RunBatch(std::vector<Request> batch);

  const BatchingConfig config_;
  const RunFn run_;
  const ExecutionFn on_execution_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Request> queue_;    // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  bool running_ = false;         // guarded by mu_; a batch is running (on any thread)
  bool last_batch_lone_ = true;  // guarded by mu_; the last batch held one request
  int64_t unanswered_ = 0;       // guarded by mu_; submitted, done not yet returned
  std::chrono::steady_clock::time_point last_arrival_;  // guarded by mu_
  std::mutex reply_mu_;
  std::condition_variable reply_wake_;
  std::deque<Reply> replies_;  // guarded by reply_mu_
  bool replying_ = false;      // guarded by reply_mu_; the reply thread holds taken replies
  bool batches_done_ = false;  // guarded by reply_mu_; no more replies will come
  std::thread reply_thread_;
  std::thread thread_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_DYNAMIC_BATCHER_H_
