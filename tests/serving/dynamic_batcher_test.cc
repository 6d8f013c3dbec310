// DynamicBatcher: requests merged into one engine call and split back by
// rows, in order (replies of merged batches on the reply thread included);
// max_batch_size, preferred sizes, queue delay, batching off; a lone
// request on an idle model runs on the submitting thread.
#include "server/inference/dynamic_batcher.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fornax::serving {
namespace {

using namespace std::chrono_literals;

// `rows` rows of one float column: first, first+1, ...
std::vector<Tensor> Rows(int64_t rows, float first, int64_t width = 1) {
  Tensor t(DType::kFloat32, Shape({rows, width}));
  for (int64_t i = 0; i < rows * width; ++i) t.data<float>()[i] = first + static_cast<float>(i);
  return {t};
}

// A fake model (y = 10 x) whose first call waits for Release(), so that the
// requests submitted meanwhile queue up behind it. It records each call's
// rows and the thread it ran on.
class GatedModel {
 public:
  absl::StatusOr<std::vector<Tensor>> Run(const std::vector<Tensor>& x) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      batch_rows_.push_back(x[0].shape().dim(0));
      ran_on_.push_back(std::this_thread::get_id());
      if (batch_rows_.size() == 1) released_.wait(lock, [this] { return open_; });
    }
    Tensor y(DType::kFloat32, x[0].shape());
    for (int64_t i = 0; i < y.num_elements(); ++i) y.data<float>()[i] = 10 * x[0].data<float>()[i];
    return std::vector<Tensor>{y};
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    released_.notify_all();
  }
  std::vector<int64_t> batch_rows() {
    std::lock_guard<std::mutex> lock(mu_);
    return batch_rows_;
  }
  std::vector<std::thread::id> ran_on() {
    std::lock_guard<std::mutex> lock(mu_);
    return ran_on_;
  }

 private:
  std::mutex mu_;
  std::condition_variable released_;
  bool open_ = false;
  std::vector<int64_t> batch_rows_;
  std::vector<std::thread::id> ran_on_;
};

// Submits on a thread of its own: an idle batcher runs a lone request on
// the submitting thread, and a GatedModel's first call blocks until the
// test releases it. Join the thread after Release().
std::thread SubmitAside(DynamicBatcher& batcher, std::vector<Tensor> inputs,
                        DynamicBatcher::DoneFn done) {
  return std::thread([&batcher, inputs = std::move(inputs), done = std::move(done)]() mutable {
    batcher.Submit(std::move(inputs), std::move(done));
  });
}

struct Result {
  std::vector<float> values;
  RequestTiming timing;
  int order = 0;
};

class Collector {
 public:
  DynamicBatcher::DoneFn Callback(Result* result) {
    return [this, result](absl::StatusOr<std::vector<Tensor>> out, const RequestTiming& timing) {
      ASSERT_TRUE(out.ok()) << out.status();
      const Tensor& t = (*out)[0];
      result->values.assign(t.data<float>(), t.data<float>() + t.num_elements());
      result->timing = timing;
      std::lock_guard<std::mutex> lock(mu_);
      result->order = ++completed_;
    };
  }

 private:
  std::mutex mu_;
  int completed_ = 0;
};

BatchingConfig Config(int64_t max_batch, std::vector<int64_t> preferred = {},
                      int64_t delay_us = 0) {
  BatchingConfig config;
  config.max_batch_size = max_batch;
  config.preferred_batch_sizes = std::move(preferred);
  config.max_queue_delay_us = delay_us;
  return config;
}

TEST(DynamicBatcher, MergesQueuedRequestsIntoOneCallAndSplitsRowsBackInOrder) {
  GatedModel model;
  Collector collector;
  std::vector<Result> results(4);
  std::vector<ExecutionInfo> executions;
  {
    DynamicBatcher batcher(
        Config(16), [&](const std::vector<Tensor>& x) { return model.Run(x); },
        [&](const ExecutionInfo& info) { executions.push_back(info); });
    std::thread first = SubmitAside(batcher, Rows(1, 0), collector.Callback(&results[0]));
    while (model.batch_rows().empty()) std::this_thread::sleep_for(1ms);
    batcher.Submit(Rows(2, 100), collector.Callback(&results[1]));
    batcher.Submit(Rows(1, 200), collector.Callback(&results[2]));
    batcher.Submit(Rows(3, 300), collector.Callback(&results[3]));
    model.Release();
    first.join();
  }  // the destructor runs what is queued
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{1, 6}));
  EXPECT_EQ(results[0].values, (std::vector<float>{0}));
  EXPECT_EQ(results[1].values, (std::vector<float>{1000, 1010}));
  EXPECT_EQ(results[2].values, (std::vector<float>{2000}));
  EXPECT_EQ(results[3].values, (std::vector<float>{3000, 3010, 3020}));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(results[static_cast<size_t>(i)].order, i + 1);
  EXPECT_EQ(results[3].timing.batch_rows, 6);
  ASSERT_EQ(executions.size(), 2u);
  EXPECT_EQ(executions[1].requests, 3);
  EXPECT_EQ(executions[1].rows, 6);
}

// A batch of several requests is answered on the reply thread; a lone
// request run while those replies are still going out must wait its turn.
TEST(DynamicBatcher, ALoneRequestIsAnsweredAfterTheRepliesOfEarlierBatches) {
  GatedModel model;
  Collector collector;
  std::vector<Result> results(5);
  std::mutex mu;
  int running = 0;  // done callbacks running at once
  int most_running = 0;
  auto tracked = [&](Result* result, bool hold) -> DynamicBatcher::DoneFn {
    DynamicBatcher::DoneFn inner = collector.Callback(result);
    return [&, inner, hold](absl::StatusOr<std::vector<Tensor>> out, const RequestTiming& t) {
      {
        std::lock_guard<std::mutex> lock(mu);
        most_running = std::max(most_running, ++running);
      }
      // Hold the first reply of the merged batch until the lone request
      // behind it has run on the engine.
      while (hold && model.batch_rows().size() < 3) std::this_thread::sleep_for(1ms);
      inner(std::move(out), t);
      std::lock_guard<std::mutex> lock(mu);
      --running;
    };
  };
  {
    DynamicBatcher batcher(Config(16), [&](const std::vector<Tensor>& x) { return model.Run(x); });
    std::thread first = SubmitAside(batcher, Rows(1, 0), tracked(&results[0], false));
    while (model.batch_rows().empty()) std::this_thread::sleep_for(1ms);
    batcher.Submit(Rows(1, 100), tracked(&results[1], true));
    batcher.Submit(Rows(1, 200), tracked(&results[2], false));
    batcher.Submit(Rows(1, 300), tracked(&results[3], false));
    model.Release();
    first.join();
    while (model.batch_rows().size() < 2) std::this_thread::sleep_for(1ms);
    batcher.Submit(Rows(1, 400), tracked(&results[4], false));
  }
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{1, 3, 1}));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(results[static_cast<size_t>(i)].order, i + 1);
  EXPECT_EQ(results[4].values, (std::vector<float>{4000}));
  EXPECT_EQ(most_running, 1);
}

TEST(DynamicBatcher, NeverExceedsMaxBatchSize) {
  GatedModel model;
  Collector collector;
  std::vector<Result> results(4);
  {
    DynamicBatcher batcher(Config(4), [&](const std::vector<Tensor>& x) { return model.Run(x); });
    std::thread first = SubmitAside(batcher, Rows(1, 0), collector.Callback(&results[0]));
    while (model.batch_rows().empty()) std::this_thread::sleep_for(1ms);
    for (int i = 1; i < 4; ++i) {
      batcher.Submit(Rows(2, 10.0f * i), collector.Callback(&results[static_cast<size_t>(i)]));
    }
    model.Release();
    first.join();
  }
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{1, 4, 2}));
  EXPECT_EQ(results[3].values, (std::vector<float>{300, 310}));
}

TEST(DynamicBatcher, StopsAtTheLargestPreferredBatchSize) {
  GatedModel model;
  Collector collector;
  std::vector<Result> results(6);
  {
    DynamicBatcher batcher(Config(8, {2, 3}),
                           [&](const std::vector<Tensor>& x) { return model.Run(x); });
    std::thread first = SubmitAside(batcher, Rows(1, 0), collector.Callback(&results[0]));
    while (model.batch_rows().empty()) std::this_thread::sleep_for(1ms);
    for (int i = 1; i < 6; ++i) {
      batcher.Submit(Rows(1, static_cast<float>(i)),
                     collector.Callback(&results[static_cast<size_t>(i)]));
    }
    model.Release();
    first.join();
  }
  // 5 queued rows: a batch of 3 (largest preferred), then the 2 left.
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{1, 3, 2}));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(results[static_cast<size_t>(i)].values, (std::vector<float>{10.0f * i}));
  }
}

TEST(DynamicBatcher, WaitsUpToTheQueueDelayForMoreRequests) {
  GatedModel model;
  model.Release();
  Collector collector;
  std::vector<Result> results(2);
  const auto start = std::chrono::steady_clock::now();
  {
    DynamicBatcher batcher(Config(8, {}, /*delay_us=*/300000),
                           [&](const std::vector<Tensor>& x) { return model.Run(x); });
    batcher.Submit(Rows(1, 1), collector.Callback(&results[0]));
    std::this_thread::sleep_for(50ms);
    batcher.Submit(Rows(1, 2), collector.Callback(&results[1]));
    while (results[1].order == 0) std::this_thread::sleep_for(1ms);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{2}));
  EXPECT_GE(elapsed, 300ms);
  EXPECT_GE(results[0].timing.queue_ns, 290'000'000);
  EXPECT_EQ(results[1].values, (std::vector<float>{20}));
}

TEST(DynamicBatcher, RunsAFullBatchWithoutWaitingForTheDelay) {
  GatedModel model;
  model.Release();
  Collector collector;
  std::vector<Result> results(2);
  const auto start = std::chrono::steady_clock::now();
  {
    DynamicBatcher batcher(Config(2, {}, /*delay_us=*/5'000'000),
                           [&](const std::vector<Tensor>& x) { return model.Run(x); });
    batcher.Submit(Rows(1, 1), collector.Callback(&results[0]));
    batcher.Submit(Rows(1, 2), collector.Callback(&results[1]));
    while (results[1].order == 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{2}));
}

TEST(DynamicBatcher, WithBatchingOffEachRequestIsOneCall) {
  GatedModel model;
  Collector collector;
  std::vector<Result> results(3);
  BatchingConfig config = Config(8);
  config.dynamic_batching = false;
  {
    DynamicBatcher batcher(config, [&](const std::vector<Tensor>& x) { return model.Run(x); });
    std::thread first = SubmitAside(batcher, Rows(1, 0), collector.Callback(&results[0]));
    while (model.batch_rows().empty()) std::this_thread::sleep_for(1ms);
    batcher.Submit(Rows(2, 1), collector.Callback(&results[1]));
    batcher.Submit(Rows(1, 2), collector.Callback(&results[2]));
    model.Release();
    first.join();
  }
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{1, 2, 1}));
  EXPECT_EQ(results[2].order, 3);
}

TEST(DynamicBatcher, DoesNotMergeRequestsOfDifferentShapes) {
  GatedModel model;
  Collector collector;
  std::vector<Result> results(3);
  {
    DynamicBatcher batcher(Config(8), [&](const std::vector<Tensor>& x) { return model.Run(x); });
    std::thread first = SubmitAside(batcher, Rows(1, 0), collector.Callback(&results[0]));
    while (model.batch_rows().empty()) std::this_thread::sleep_for(1ms);
    batcher.Submit(Rows(1, 1, /*width=*/2), collector.Callback(&results[1]));
    batcher.Submit(Rows(1, 5, /*width=*/1), collector.Callback(&results[2]));
    model.Release();
    first.join();
  }
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(results[1].values, (std::vector<float>{10, 20}));
  EXPECT_EQ(results[2].values, (std::vector<float>{50}));
}

TEST(DynamicBatcher, AnEngineErrorReachesEveryRequestOfTheBatch) {
  std::vector<absl::Status> statuses(2);
  std::promise<void> first_running;
  std::promise<void> go;
  std::shared_future<void> go_future = go.get_future().share();
  int calls = 0;
  {
    DynamicBatcher batcher(Config(8), [&](const std::vector<Tensor>&) {
      if (calls++ == 0) {
        first_running.set_value();
        go_future.wait();
        return absl::StatusOr<std::vector<Tensor>>(std::vector<Tensor>{Rows(1, 0)[0]});
      }
      return absl::StatusOr<std::vector<Tensor>>(absl::InternalError("kernel failed"));
    });
    std::thread first = SubmitAside(
        batcher, Rows(1, 0), [](absl::StatusOr<std::vector<Tensor>>, const RequestTiming&) {});
    first_running.get_future().wait();
    for (size_t i = 0; i < 2; ++i) {
      batcher.Submit(Rows(1, 0),
                     [&statuses, i](absl::StatusOr<std::vector<Tensor>> out, const RequestTiming&) {
                       statuses[i] = out.status();
                     });
    }
    go.set_value();
    first.join();
  }
  EXPECT_EQ(calls, 2);
  for (const absl::Status& status : statuses) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(status.message(), "kernel failed");
  }
}

// Run on the submitting thread: no hop to the batch thread and back.
TEST(DynamicBatcher, AnIdleModelRunsALoneRequestOnTheSubmittingThread) {
  std::thread::id ran_on;
  std::vector<float> values;
  DynamicBatcher batcher(Config(8), [&](const std::vector<Tensor>& x) {
    ran_on = std::this_thread::get_id();
    return absl::StatusOr<std::vector<Tensor>>(x);
  });
  batcher.Submit(Rows(1, 7), [&](absl::StatusOr<std::vector<Tensor>> out, const RequestTiming&) {
    values.assign((*out)[0].data<float>(), (*out)[0].data<float>() + 1);
  });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(values, (std::vector<float>{7}));  // answered before Submit returned
}

// Under load (another request unanswered) requests queue for the batch
// thread, so that those arriving together merge into one engine call.
TEST(DynamicBatcher, RequestsBehindAnUnansweredOneAreQueuedForTheBatchThread) {
  GatedModel model;
  Collector collector;
  std::vector<Result> results(3);
  std::thread::id aside;
  {
    DynamicBatcher batcher(Config(8), [&](const std::vector<Tensor>& x) { return model.Run(x); });
    std::thread first = SubmitAside(batcher, Rows(1, 0), collector.Callback(&results[0]));
    aside = first.get_id();
    while (model.batch_rows().empty()) std::this_thread::sleep_for(1ms);
    batcher.Submit(Rows(1, 1), collector.Callback(&results[1]));
    batcher.Submit(Rows(1, 2), collector.Callback(&results[2]));
    model.Release();
    first.join();
  }
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{1, 2}));
  const std::vector<std::thread::id> ran_on = model.ran_on();
  ASSERT_EQ(ran_on.size(), 2u);
  EXPECT_EQ(ran_on[0], aside);
  EXPECT_NE(ran_on[1], aside);
  EXPECT_NE(ran_on[1], std::this_thread::get_id());
  EXPECT_EQ(results[2].values, (std::vector<float>{20}));
}

// After a merged batch even a lone request on a quiet model goes to the
// batch thread: the load that merged requests may still be there.
TEST(DynamicBatcher, AfterAMergedBatchALoneRequestIsQueued) {
  GatedModel model;
  Collector collector;
  std::vector<Result> results(4);
  {
    DynamicBatcher batcher(Config(8), [&](const std::vector<Tensor>& x) { return model.Run(x); });
    std::thread first = SubmitAside(batcher, Rows(1, 0), collector.Callback(&results[0]));
    while (model.batch_rows().empty()) std::this_thread::sleep_for(1ms);
    batcher.Submit(Rows(1, 1), collector.Callback(&results[1]));
    batcher.Submit(Rows(1, 2), collector.Callback(&results[2]));
    model.Release();
    first.join();
    while (results[2].order == 0) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(20ms);  // answered, and well past the 100 us gap
    batcher.Submit(Rows(1, 3), collector.Callback(&results[3]));
  }
  EXPECT_EQ(model.batch_rows(), (std::vector<int64_t>{1, 2, 1}));
  const std::vector<std::thread::id> ran_on = model.ran_on();
  ASSERT_EQ(ran_on.size(), 3u);
  EXPECT_NE(ran_on[2], std::this_thread::get_id());
  EXPECT_EQ(ran_on[2], ran_on[1]);  // the batch thread
  EXPECT_EQ(results[3].values, (std::vector<float>{30}));
  EXPECT_EQ(results[3].order, 4);
}

TEST(DynamicBatcher, RefusesARequestLargerThanMaxBatchSize) {
  absl::Status status;
  DynamicBatcher batcher(Config(2), [](const std::vector<Tensor>& x) {
    return absl::StatusOr<std::vector<Tensor>>(x);
  });
  batcher.Submit(Rows(3, 0), [&](absl::StatusOr<std::vector<Tensor>> out, const RequestTiming&) {
    status = out.status();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "batch size must be in 1..2, got 3");
}

}  // namespace
}  // namespace fornax::serving
