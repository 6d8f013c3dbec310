// `fornax deploy` end to end with real processes: a job trained by a real
// fornax-worker is deployed through the CLI, served by a worker over the Open
// Inference Protocol and asked through `fornax predict --model NAME`; its
// answers equal the local engine's on the pulled .keras. A redeploy serves
// version 2, a worker killed with -9 hands the deployment to another one (a
// predict meanwhile waits for it), and after undeploy predict says clearly
// that there is none. A worker stopped with SIGTERM hands it over at once
// and serves until the other worker has it READY, so no prediction fails
// through a redeploy or that hand-over; a coordinator restarted while a
// redeploy loads keeps the old version answering.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/data/npy.h"
#include "gmock/gmock.h"
#include "proto/fornax/v1/deployments.grpc.pb.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// Largest |a - b| over two float32 arrays of the same shape; +inf when the
// shapes differ or a file cannot be read.
double MaxAbsDiff(const std::string& a_path, const std::string& b_path) {
  absl::StatusOr<Tensor> a = ReadNpy(a_path);
  absl::StatusOr<Tensor> b = ReadNpy(b_path);
  EXPECT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(b.ok()) << b.status();
  if (!a.ok() || !b.ok() || a->shape().dims() != b->shape().dims() ||
      a->dtype() != DType::kFloat32 || b->dtype() != DType::kFloat32) {
    return INFINITY;
  }
  const float* x = static_cast<const float*>(a->raw_data());
  const float* y = static_cast<const float*>(b->raw_data());
  double worst = 0;
  for (size_t i = 0; i < a->byte_size() / sizeof(float); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(x[i] - y[i])));
  }
  return worst;
}

class DeployTest : public ServiceTest {
 protected:
  // 150 Fashion-MNIST-like rows of 784 floats in [0, 1), as x.npy: more
  // than the served max_batch_size (64), so predict sends 3 calls.
  std::string WriteInput() {
    Tensor x(DType::kFloat32, Shape({150, 784}));
    float* p = static_cast<float*>(x.raw_data());
    for (int64_t i = 0; i < 150 * 784; ++i) p[i] = static_cast<float>((i * 7919) % 256) / 256.0f;
    const std::string path = Path("x.npy");
    EXPECT_TRUE(WriteNpy(path, x).ok());
    return path;
  }

  // `fornax pull JOB` then local `fornax predict` on it: the expected answer.
  std::string LocalPredict(const std::string& address, const std::string& job_id,
                           const std::string& x) {
    const std::string model = Path(job_id + ".keras");
    CliResult pull = RunCli(address, {"pull", job_id, "-o", model});
    EXPECT_EQ(pull.exit_code, 0) << pull.out << pull.err;
    const std::string y = Path(job_id + "-local.npy");
    CliResult predict = RunCli(address, {"predict", "--model", model, "--input", x, "--output", y});
    EXPECT_EQ(predict.exit_code, 0) << predict.out << predict.err;
    return y;
  }

  // What the redeploy tests start from: a coordinator on `port` (0: any free
  // one; lease timeout 10 s), worker w1 serving job1 as "big", and job2
  // trained for the redeploy. Both are 20 MB models (hidden=2048).
  struct BigDeployment {
    std::unique_ptr<Daemon> coordinator;
    std::unique_ptr<Daemon> w1;
    std::string address, job2;
  };
  void DeployBig(int port, BigDeployment& big) {
    big.coordinator = StartCoordinator(port, /*lease_timeout_ms=*/0);
    ASSERT_NE(big.coordinator, nullptr);
    big.address = big.coordinator->grpc_address();
    big.w1 = StartWorker("w1", *big.coordinator);
    ASSERT_NE(big.w1, nullptr);
    const std::string job1 = TrainJob(big.address, 1, /*hidden=*/2048);
    big.job2 = TrainJob(big.address, 2, /*hidden=*/2048);
    ASSERT_FALSE(job1.empty() || big.job2.empty());
    CliResult deploy = RunCli(big.address, {"deploy", job1, "--name", "big"});
    ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  }
};

TEST_F(DeployTest, DeployPredictRedeployFailOverUndeploy) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator(0, /*lease_timeout_ms=*/3000);
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> w1 = StartWorker("w1", *coordinator);
  ASSERT_NE(w1, nullptr);
  const std::string job1 = TrainJob(address, 1);
  const std::string job2 = TrainJob(address, 2);
  ASSERT_FALSE(job1.empty() || job2.empty());
  const std::string x = WriteInput();

  // Deploy: the CLI waits until READY and says where.
  auto started = std::chrono::steady_clock::now();
  CliResult deploy = RunCli(address, {"deploy", job1, "--name", "fmnist"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  std::cout << "deploy to READY: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms (CLI, incl. process start)\n";
  EXPECT_THAT(deploy.out, MatchesRegex("deployment fmnist version 1 READY on worker w1 at "
                                       "127\\.0\\.0\\.1:[0-9]+\n"));

  const std::string y1 = Path("y1.npy");
  CliResult predict =
      RunCli(address, {"predict", "--model", "fmnist", "--input", x, "--output", y1});
  ASSERT_EQ(predict.exit_code, 0) << predict.out << predict.err;
  const std::string local1 = LocalPredict(address, job1, x);
  EXPECT_LE(MaxAbsDiff(y1, local1), 1e-6);
  // Without --output the predictions are printed: a header, a line per row.
  CliResult printed = RunCli(address, {"predict", "--model", "fmnist", "--input", x});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_THAT(printed.out, MatchesRegex("# [a-z_0-9]+ \\(150, 10\\) float32\n"
                                        "([-0-9.e]+( [-0-9.e]+){9}\n){150}"));

  // Redeploy another job under the same name: version 2, its answers.
  deploy = RunCli(address, {"deploy", job2, "--name", "fmnist"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  EXPECT_THAT(deploy.out, HasSubstr("deployment fmnist version 2 READY on worker w1"));
  const std::string y2 = Path("y2.npy");
  predict = RunCli(address, {"predict", "--model", "fmnist", "--input", x, "--output", y2});
  ASSERT_EQ(predict.exit_code, 0) << predict.out << predict.err;
  const std::string local2 = LocalPredict(address, job2, x);
  EXPECT_LE(MaxAbsDiff(y2, local2), 1e-6);
  EXPECT_GT(MaxAbsDiff(y2, local1), 1e-4);  // the new model answers, not the old one

  CliResult list = RunCli(address, {"deployments"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out,
              MatchesRegex("NAME +VERSION +STATE +WORKER +ENDPOINT +SERVING +JOB +AGE +REASON\n"
                           "fmnist +2 +READY +w1 +127\\.0\\.0\\.1:[0-9]+ +"
                           "w1/v2@127\\.0\\.0\\.1:[0-9]+ +" +
                           job2 + " +[0-9]+s +-\n"));

  CliResult workers = RunCli(address, {"workers"});
  ASSERT_EQ(workers.exit_code, 0) << workers.err;
  EXPECT_THAT(workers.out, ContainsRegex("\nw1 [^\n]* up [^\n]* fmnist +127\\.0\\.0\\.1:[0-9]+ "))
      << workers.out;

  // kill -9 the worker serving it, with a second one up: READY there again.
  std::unique_ptr<Daemon> w2 = StartWorker("w2", *coordinator);
  ASSERT_NE(w2, nullptr);
  const v1::Deployment before = GetDeployment(address, "fmnist");
  ASSERT_EQ(before.worker_id(), "w1");
  started = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 started)
        .count();
  };
  w1->Kill();
  // A predict right away: nothing answers until w2 has it READY, and it
  // waits for that (--wait-timeout, 30 s by default) instead of failing.
  const std::string y3 = Path("y3.npy");
  std::future<std::pair<CliResult, int64_t>> waiting = std::async(std::launch::async, [&] {
    CliResult r = RunCli(address, {"predict", "--model", "fmnist", "--input", x, "--output", y3});
    return std::make_pair(r, elapsed_ms());
  });
  v1::Deployment after;
  int64_t moved_ms = -1;
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(60)) {
    after = GetDeployment(address, "fmnist");
    if (moved_ms < 0 && after.worker_id() == "w2") moved_ms = elapsed_ms();
    if (after.state() == v1::DEPLOYMENT_STATE_READY && after.worker_id() == "w2") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int64_t ready_ms = elapsed_ms();
  const auto [waited, answered_ms] = waiting.get();
  std::cout << "kill -9 of the serving worker: placed on the other after " << moved_ms
            << " ms (lease timeout 3000 ms), READY there after " << ready_ms
            << " ms; a predict started at the kill answered after " << answered_ms << " ms\n";
  ASSERT_EQ(after.state(), v1::DEPLOYMENT_STATE_READY) << after.ShortDebugString();
  EXPECT_EQ(after.worker_id(), "w2");
  EXPECT_EQ(after.version(), 2);
  EXPECT_NE(after.endpoint(), before.endpoint());
  ASSERT_EQ(waited.exit_code, 0) << waited.out << waited.err;
  EXPECT_LE(MaxAbsDiff(y3, local2), 1e-6);

  // Undeploy: predict then says there is no such deployment.
  CliResult undeploy = RunCli(address, {"undeploy", "fmnist"});
  ASSERT_EQ(undeploy.exit_code, 0) << undeploy.out << undeploy.err;
  EXPECT_THAT(undeploy.out, HasSubstr("deployment fmnist undeployed (was version 2 on worker w2)"));
  predict = RunCli(address, {"predict", "--model", "fmnist", "--input", x, "--output", y3});
  EXPECT_EQ(predict.exit_code, 2) << predict.out << predict.err;
  EXPECT_EQ(predict.err, absl::StrCat("fornax: error: predict: --model fmnist: no such file, and "
                                      "coordinator ",
                                      address,
                                      " has no deployment 'fmnist' (fornax deployments lists "
                                      "them)\n"));
}

// A worker stopped with SIGTERM leaves the coordinator, which moves its
// deployment at once: READY on the other worker well before the 10 s lease
// timeout, and predict answers from there.
TEST_F(DeployTest, SigtermedWorkersDeploymentIsReadyOnTheOtherWithinSeconds) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator(0, /*lease_timeout_ms=*/0);  // 10 s
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> w1 = StartWorker("w1", *coordinator);
  ASSERT_NE(w1, nullptr);
  const std::string job = TrainJob(address, 1);
  ASSERT_FALSE(job.empty());
  CliResult deploy = RunCli(address, {"deploy", job, "--name", "fmnist"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  ASSERT_THAT(deploy.out, HasSubstr("READY on worker w1"));
  std::unique_ptr<Daemon> w2 = StartWorker("w2", *coordinator);
  ASSERT_NE(w2, nullptr);

  const auto started = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 started)
        .count();
  };
  w1->Signal(SIGTERM);
  v1::Deployment after;
  int64_t moved_ms = -1;
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(9)) {
    after = GetDeployment(address, "fmnist");
    if (moved_ms < 0 && after.worker_id() == "w2") moved_ms = elapsed_ms();
    if (after.state() == v1::DEPLOYMENT_STATE_READY && after.worker_id() == "w2") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int64_t ready_ms = elapsed_ms();
  absl::StatusOr<int> exit = w1->Wait(absl::Seconds(10));
  ASSERT_TRUE(exit.ok()) << exit.status();
  const int64_t exited_ms = elapsed_ms();
  std::cout << "SIGTERM of the serving worker: placed on the other after " << moved_ms
            << " ms, READY there after " << ready_ms << " ms (lease timeout 10000 ms); w1 exited "
            << "after " << exited_ms << " ms\n";
  ASSERT_EQ(after.state(), v1::DEPLOYMENT_STATE_READY) << after.ShortDebugString();
  EXPECT_EQ(after.worker_id(), "w2");
  EXPECT_LT(ready_ms, 5000);  // half the lease timeout: the lease did not do it
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << *exit;

  const std::string x = WriteInput();
  const std::string y = Path("y.npy");
  CliResult predict =
      RunCli(address, {"predict", "--model", "fmnist", "--input", x, "--output", y});
  ASSERT_EQ(predict.exit_code, 0) << predict.out << predict.err;
  EXPECT_LE(MaxAbsDiff(y, LocalPredict(address, job, x)), 1e-6);
}

// Runs `fornax predict --model NAME` back to back on a few threads until
// stopped, counting the answers and keeping each failure's message and when
// each call started and ended.
class PredictHammer {
 public:
  using Clock = std::chrono::steady_clock;
  PredictHammer(int threads, std::function<CliResult()> predict) : predict_(std::move(predict)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~PredictHammer() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int answered() const { return answered_.load(); }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  // How many calls ran during [from, to), and the longest one's duration.
  std::pair<int, Clock::duration> CallsDuring(Clock::time_point from, Clock::time_point to) {
    std::lock_guard<std::mutex> lock(mu_);
    int calls = 0;
    Clock::duration longest{};
    for (const auto& [start, end] : calls_) {
      if (start >= to || end < from) continue;
      ++calls;
      longest = std::max(longest, end - start);
    }
    return {calls, longest};
  }

 private:
  void Run() {
    while (!stop_.load()) {
      const Clock::time_point start = Clock::now();
      CliResult r = predict_();
      std::lock_guard<std::mutex> lock(mu_);
      calls_.emplace_back(start, Clock::now());
      if (r.exit_code == 0 && !r.out.empty()) {
        ++answered_;
      } else {
        failures_.push_back(absl::StrCat("exit ", r.exit_code, ": ", r.err));
      }
    }
  }

  const std::function<CliResult()> predict_;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::mutex mu_;
  std::vector<std::string> failures_;                                   // guarded by mu_
  std::vector<std::pair<Clock::time_point, Clock::time_point>> calls_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

// A graceful move never fails a prediction: while a redeploy loads version
// 2, version 1 answers; while a worker stopped with SIGTERM hands its
// deployment over, it answers until the other worker serves it
// (Deployment.serving switches then), and it exits only after that switch,
// so through the move predict never has to wait for a replica: it runs with
// --wait-timeout 0 there (a call to a worker that is gone would fail). The
// models are big enough (20 MB) that each load takes a few hundred ms;
// before the old replica kept answering, 16-18 of about 110 predictions
// failed here; before the stopping worker waited for the switch, it exited
// first and predictions waited up to 461 ms for it.
TEST_F(DeployTest, NoPredictionFailsThroughARedeployOrAGracefulMove) {
  BigDeployment big;
  ASSERT_NO_FATAL_FAILURE(DeployBig(/*port=*/0, big));
  const std::string& address = big.address;
  std::unique_ptr<Daemon> w2 = StartWorker("w2", *big.coordinator);
  ASSERT_NE(w2, nullptr);
  const std::string x = WriteInput();

  PredictHammer hammer(3, [&] {
    return RunCli(address, {"predict", "--model", "big", "--input", x});
  });
  auto ms = [](PredictHammer::Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto redeployed = PredictHammer::Clock::now();
  CliResult deploy = RunCli(address, {"deploy", big.job2, "--name", "big"});
  ASSERT_EQ(deploy.exit_code, 0) << deploy.out << deploy.err;
  ASSERT_THAT(deploy.out, HasSubstr("version 2 READY on worker w1"));
  const auto redeploy_ready = PredictHammer::Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  hammer.Stop();

  PredictHammer moving(3, [&] {
    return RunCli(address, {"predict", "--model", "big", "--input", x, "--wait-timeout", "0"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto stopped = PredictHammer::Clock::now();
  big.w1->Signal(SIGTERM);
  v1::Deployment d;
  while (PredictHammer::Clock::now() - stopped < std::chrono::seconds(9)) {
    d = GetDeployment(address, "big");
    if (d.serving().worker_id() == "w2") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto switched = PredictHammer::Clock::now();
  absl::StatusOr<int> exit = big.w1->Wait(absl::Seconds(10));
  ASSERT_TRUE(exit.ok()) << exit.status();
  const auto exited = PredictHammer::Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  moving.Stop();
  const auto [during_redeploy, longest_in_redeploy] =
      hammer.CallsDuring(redeployed, redeploy_ready);
  const auto [before_move, longest_before_move] = moving.CallsDuring(
      stopped - std::chrono::milliseconds(500), stopped - std::chrono::milliseconds(1));
  const auto [during_move, longest_in_move] = moving.CallsDuring(stopped, exited);
  std::cout << "predict hammer (3 threads): " << hammer.answered() + moving.answered()
            << " answered, " << hammer.failures().size() + moving.failures().size()
            << " failed; redeploy to READY " << ms(redeploy_ready - redeployed) << " ms ("
            << during_redeploy << " predictions ran meanwhile, the longest "
            << ms(longest_in_redeploy) << " ms); SIGTERM to the switch to w2 "
            << ms(switched - stopped) << " ms, w1 exited after " << ms(exited - stopped)
            << " ms; predictions from SIGTERM to its exit: " << during_move << ", the longest "
            << ms(longest_in_move) << " ms (the 500 ms before: " << before_move << ", the longest "
            << ms(longest_before_move) << " ms)\n";
  EXPECT_EQ(d.state(), v1::DEPLOYMENT_STATE_READY) << d.ShortDebugString();
  EXPECT_EQ(d.worker_id(), "w2");
  EXPECT_EQ(d.serving().version(), 2);
  EXPECT_EQ(d.serving().endpoint(), d.endpoint());
  EXPECT_GT(during_redeploy, 0);
  EXPECT_GT(during_move, 0);
  EXPECT_THAT(hammer.failures(), ::testing::IsEmpty());
  EXPECT_THAT(moving.failures(), ::testing::IsEmpty());
  // w1 waited for the switch before it stopped serving: its drain names
  // the deployment and the worker it went to.
  EXPECT_THAT(WorkerLog("w1"), ContainsRegex("drain: serving until these are READY elsewhere[^\n]*"
                                             "big \\(to w2\\)"));
  EXPECT_THAT(WorkerLog("w1"), HasSubstr("drain: no deployment served here is LOADING elsewhere"));
}

// The coordinator restarts while a redeploy loads: the worker, registering
// again, lists the version it still serves (READY) beside the one loading,
// so the deployment keeps answering from it until the new one is READY.
// Version 2 reaches the worker while the coordinator goes away (the worker
// is stopped meanwhile), so it cannot fetch it before the restart. Before
// the worker listed it, `serving` was cleared at that registration and
// predictions waited for version 2.
TEST_F(DeployTest, ACoordinatorRestartMidRedeployKeepsTheOldVersionAnswering) {
  const int port = FreePort();
  BigDeployment big;
  ASSERT_NO_FATAL_FAILURE(DeployBig(port, big));
  const std::string& address = big.address;

  big.w1->Signal(SIGSTOP);
  {
    auto stub =
        v1::Deployments::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::DeployRequest request;
    request.set_job_id(big.job2);
    request.set_name("big");
    v1::Deployment d;
    grpc::Status status = stub->Deploy(&context, request, &d);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(d.version(), 2);
    ASSERT_EQ(d.serving().version(), 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // HostModel written to w1
  big.coordinator->Kill();
  big.w1->Signal(SIGCONT);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // w1 is fetching version 2
  big.coordinator = StartCoordinator(port, /*lease_timeout_ms=*/0);
  ASSERT_NE(big.coordinator, nullptr);

  const std::string x = WriteInput();
  PredictHammer hammer(2, [&] {
    return RunCli(address, {"predict", "--model", "big", "--input", x});
  });
  int polls = 0, unserved = 0, by_version1 = 0;
  v1::Deployment d;
  const auto started = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(60)) {
    d = GetDeployment(address, "big");
    ++polls;
    if (!d.has_serving()) ++unserved;
    if (d.serving().version() == 1) ++by_version1;
    if (d.serving().version() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto switched = PredictHammer::Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  hammer.Stop();
  const auto [calls, longest] = hammer.CallsDuring(started, switched);
  std::cout << "coordinator restart mid-redeploy: " << polls << " polls until version 2 served, "
            << by_version1 << " saw version 1 serving, " << unserved
            << " saw none; predictions: " << hammer.answered() << " answered, "
            << hammer.failures().size() << " failed, " << calls
            << " ran before the switch, the longest "
            << std::chrono::duration_cast<std::chrono::milliseconds>(longest).count() << " ms\n";
  const std::string log = WorkerLog("w1");
  // The precondition: version 2 was asked for before w1 registered again.
  const size_t hosting = log.find("hosting model big version 2");
  ASSERT_NE(hosting, std::string::npos) << log;
  EXPECT_NE(log.find("registered with", hosting), std::string::npos) << log;
  EXPECT_EQ(d.state(), v1::DEPLOYMENT_STATE_READY) << d.ShortDebugString();
  EXPECT_EQ(d.serving().version(), 2);
  EXPECT_GT(by_version1, 0);
  EXPECT_EQ(unserved, 0);
  EXPECT_GT(hammer.answered(), 0);
  EXPECT_THAT(hammer.failures(), ::testing::IsEmpty());
}

TEST_F(DeployTest, DeployRefusesAJobWithoutAFinalModel) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  CliResult r = RunCli(coordinator->grpc_address(), {"deploy", "job-404", "--name", "m"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(r.err, "fornax: error: job 'job-404' not found\n");
  r = RunCli(coordinator->grpc_address(), {"deploy", "job-404", "--name", "bad/name"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("name: 'bad/name' must start with a letter or digit"));
}

}  // namespace
}  // namespace fornax::service_testing
