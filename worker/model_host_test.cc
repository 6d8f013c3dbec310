// Hosting models on the worker, end to end but for the coordinator: a fake
// coordinator sends HostModel/UnhostModel down a real lease and serves real
// Keras checkpoints; the test calls the worker's Open Inference Protocol
// endpoint over real gRPC and scrapes its Prometheus endpoint. A stopping
// worker serves its models until it has left the coordinator.
#include "worker/model_host.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "worker/fake_coordinator_test_util.h"
#include "worker/model_host_test_util.h"
#include "worker/test_jobs.h"
#include "worker/worker.h"

namespace fornax::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::TempDir;

TEST_F(ModelHostTest, HostsACheckpointServesItAndReportsReady) {
  EXPECT_FALSE(Ready("mlp"));
  const std::string bytes = Archive("mlp_adam.keras");
  Host("mlp", 1, "ckpt-1", bytes);
  const v1::HostedModel ready = WaitState("mlp", 1, v1::HostedModel::STATE_READY);
  EXPECT_EQ(ready.checkpoint_id(), "ckpt-1");
  EXPECT_EQ(Changes("mlp"), "v1:LOADING v1:READY");
  EXPECT_EQ(testing::ReadFileOrEmpty(Models() + "/mlp/1/model.keras"), bytes);
  EXPECT_EQ(testing::ReadFileOrEmpty(Models() + "/mlp/1/checkpoint_id"), "ckpt-1\n");
  EXPECT_FALSE(fs::exists(Models() + "/mlp/.1.tmp"));

  EXPECT_TRUE(Ready("mlp"));
  EXPECT_TRUE(Ready("mlp", "1"));
  EXPECT_EQ(Infer("mlp"), "[1][3]");
  // The inference metrics are on the worker's own endpoint.
  EXPECT_THAT(testing::Scrape(worker_->metrics_address()),
              HasSubstr("nv_inference_request_success{model=\"mlp\",version=\"1\"} 1"));
  EXPECT_THAT(testing::Scrape(worker_->metrics_address()), HasSubstr("fornax_worker_jobs_running"));

  // A re-sent HostModel for the version it serves changes nothing.
  Host("mlp", 1, "ckpt-1", bytes);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(Changes("mlp"), "v1:LOADING v1:READY");
}

TEST_F(ModelHostTest, CorruptCheckpointFailsWithItsReasonAndOthersKeepServing) {
  Host("mlp", 1, "ckpt-1", Archive("mlp_adam.keras"));
  WaitState("mlp", 1, v1::HostedModel::STATE_READY);
  Host("broken", 1, "ckpt-2", "this is not a zip archive");
  const v1::HostedModel failed = WaitState("broken", 1, v1::HostedModel::STATE_FAILED);
  EXPECT_THAT(failed.reason(), HasSubstr("version 1"));
  EXPECT_THAT(failed.reason(),
              HasSubstr("broken/1/model.keras: not a readable .keras (zip) archive"));
  EXPECT_FALSE(fs::exists(Models() + "/broken"));
  EXPECT_FALSE(Ready("broken"));
  EXPECT_TRUE(Ready("mlp"));
  EXPECT_EQ(Infer("mlp"), "[1][3]");
  // Asked again (the coordinator retries), it tries again and fails again.
  Host("broken", 1, "ckpt-2", "this is not a zip archive");
  EXPECT_TRUE(WaitChanges("broken", "v1:LOADING v1:FAILED v1:LOADING v1:FAILED"))
      << Changes("broken");
}

TEST_F(ModelHostTest, ChecksumMismatchAndBadRequestsFail) {
  const std::string bytes = Archive("mlp_adam.keras");
  Host("mlp", 1, "ckpt-1", bytes, Digest("other bytes"));
  const v1::HostedModel failed = WaitState("mlp", 1, v1::HostedModel::STATE_FAILED);
  EXPECT_THAT(failed.reason(), HasSubstr("checkpoint ckpt-1: download of " + Digest("other bytes") +
                                         " has sha256 " + Digest(bytes)));
  EXPECT_FALSE(fs::exists(Models() + "/mlp"));
  EXPECT_FALSE(Ready("mlp"));

  Host("../escape", 1, "ckpt-1", bytes);
  EXPECT_THAT(WaitState("../escape", 1, v1::HostedModel::STATE_FAILED).reason(),
              HasSubstr("model name '../escape' must match"));
  v1::LeaseResponse message;  // a checkpoint the coordinator does not have
  message.mutable_host()->set_name("ghost");
  message.mutable_host()->set_version(1);
  message.mutable_host()->set_checkpoint_id("no-such-checkpoint");
  message.mutable_host()->set_sha256(Digest(bytes));
  coordinator_.Send(message);
  EXPECT_THAT(WaitState("ghost", 1, v1::HostedModel::STATE_FAILED).reason(),
              HasSubstr("checkpoint no-such-checkpoint: no-such-checkpoint"));
  EXPECT_FALSE(fs::exists(Models() + "/ghost"));
}

TEST_F(ModelHostTest, DownloadIsRetriedWhileTheCoordinatorIsUnavailable) {
  coordinator_.WaitFor([&] {
    coordinator_.unavailable_downloads = 3;
    return true;
  });
  Host("mlp", 1, "ckpt-1", Archive("mlp_adam.keras"));
  WaitState("mlp", 1, v1::HostedModel::STATE_READY);
  EXPECT_EQ(Changes("mlp"), "v1:LOADING v1:READY");
  coordinator_.WaitFor([&] {
    EXPECT_EQ(coordinator_.downloads, 4);
    return true;
  });
  EXPECT_TRUE(Ready("mlp", "1"));
}

TEST_F(ModelHostTest, NewerVersionSwapsInAndTheOlderIsDeleted) {
  Host("mlp", 1, "ckpt-1", Archive("mlp_adam.keras"));
  WaitState("mlp", 1, v1::HostedModel::STATE_READY);
  // Requests keep coming during the swap; none fails.
  std::atomic<bool> stop{false};
  int calls = 0;
  std::vector<std::string> failures;
  std::thread client([&] {
    while (!stop) {
      const std::string result = Infer("mlp");
      ++calls;
      if (result != "[1][3]") failures.push_back(result);
    }
  });
  Host("mlp", 2, "ckpt-2", Archive("mlp_sgd.keras"));
  EXPECT_EQ(WaitState("mlp", 2, v1::HostedModel::STATE_READY).checkpoint_id(), "ckpt-2");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  client.join();
  EXPECT_GT(calls, 0);
  EXPECT_THAT(failures, ::testing::IsEmpty());
  EXPECT_EQ(Changes("mlp"), "v1:LOADING v1:READY v2:LOADING v2:READY");
  EXPECT_TRUE(Ready("mlp", "2"));  // version 1 answers for a grace (see ModelHostGraceTest)
  EXPECT_EQ(Infer("mlp"), "[1][3]");
  EXPECT_TRUE(fs::exists(Models() + "/mlp/2/model.keras"));
  EXPECT_FALSE(fs::exists(Models() + "/mlp/1"));

  // A broken version 3 fails; version 2 keeps serving.
  Host("mlp", 3, "ckpt-3", "garbage");
  WaitState("mlp", 3, v1::HostedModel::STATE_FAILED);
  EXPECT_TRUE(Ready("mlp", "2"));
  EXPECT_FALSE(fs::exists(Models() + "/mlp/3"));
}

TEST_F(ModelHostTest, UnhostStopsServingAndDeletesTheFiles) {
  Host("mlp", 1, "ckpt-1", Archive("mlp_adam.keras"));
  Host("cnn", 1, "ckpt-2", Archive("cnn_bn.keras"));
  WaitState("mlp", 1, v1::HostedModel::STATE_READY);
  WaitState("cnn", 1, v1::HostedModel::STATE_READY);
  Unhost("mlp");
  ASSERT_TRUE(coordinator_.WaitFor([&] { return coordinator_.hosted.count("mlp") == 0; }));
  EXPECT_EQ(coordinator_.hosted.count("cnn"), 1u);
  // The unhost runs off the lease thread: wait for the files to go.
  for (int i = 0; i < 100 && fs::exists(Models() + "/mlp"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(fs::exists(Models() + "/mlp"));
  EXPECT_FALSE(Ready("mlp"));
  EXPECT_THAT(Infer("mlp"), HasSubstr("model 'mlp'"));
  EXPECT_TRUE(Ready("cnn"));

  // Hosted again under the same name, it serves again.
  Host("mlp", 2, "ckpt-3", Archive("mlp_sgd.keras"));
  WaitState("mlp", 2, v1::HostedModel::STATE_READY);
  EXPECT_TRUE(Ready("mlp", "2"));
}

TEST_F(ModelHostTest, RestartListsTheReadyModelsAtRegister) {
  Host("mlp", 2, "ckpt-1", Archive("mlp_adam.keras"));
  WaitState("mlp", 2, v1::HostedModel::STATE_READY);
  StopWorker();
  // Leftovers a crash could leave: a half download and an unloadable model.
  testing::WriteFile(Models() + "/mlp/.3.tmp/model.keras", "partial");
  testing::WriteFile(Models() + "/junk/1/model.keras", "not a model");

  StartWorker();
  const v1::RegisterRequest& registration = coordinator_.registrations.back();
  ASSERT_EQ(registration.hosted_size(), 1);
  EXPECT_EQ(registration.hosted(0).name(), "mlp");
  EXPECT_EQ(registration.hosted(0).version(), 2);
  EXPECT_EQ(registration.hosted(0).checkpoint_id(), "ckpt-1");
  EXPECT_EQ(registration.hosted(0).state(), v1::HostedModel::STATE_READY);
  EXPECT_TRUE(Ready("mlp", "2"));
  EXPECT_FALSE(fs::exists(Models() + "/mlp/.3.tmp"));
  EXPECT_FALSE(fs::exists(Models() + "/junk"));
}

TEST_F(ModelHostTest, ShutdownLeavesWhileItsModelsAreStillServed) {
  Host("mlp", 1, "ckpt-1", Archive("mlp_adam.keras"));
  WaitState("mlp", 1, v1::HostedModel::STATE_READY);
  std::atomic<bool> served_at_leave{false};
  coordinator_.OnLeave([&] { served_at_leave = Infer("mlp") == "[1][3]"; });
  const std::string session = absl::StrCat("s", Registrations());
  StopWorker();
  EXPECT_TRUE(served_at_leave);
  ASSERT_EQ(coordinator_.leaves.size(), 1u);
  EXPECT_EQ(coordinator_.leaves[0], session);
  // Once it stopped, nothing answers there.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  inference::ServerLiveResponse live;
  EXPECT_FALSE(stub_->ServerLive(&ctx, inference::ServerLiveRequest(), &live).ok());
}

// After Leave a stopping worker keeps serving a deployment the coordinator
// still sends clients to while it loads on another worker; once it is READY
// there, it serves 1 s more (clients that asked just before) and stops.
TEST_F(ModelHostTest, AStoppingWorkerServesUntilItsDeploymentIsReadyElsewhere) {
  Host("mlp", 1, "ckpt-1", Archive("mlp_adam.keras"));
  WaitState("mlp", 1, v1::HostedModel::STATE_READY);
  Moving("mlp", /*ready_there=*/false);
  std::atomic<bool> stopped{false};
  std::thread stopping([&] {
    worker_->Shutdown();
    stopped = true;
  });
  ASSERT_TRUE(AskedAgain(3));
  EXPECT_FALSE(stopped);
  EXPECT_TRUE(coordinator_.WaitFor([&] { return coordinator_.leaves.size() == 1; }, 1));
  EXPECT_EQ(Infer("mlp"), "[1][3]");
  const auto switched = std::chrono::steady_clock::now();
  Moving("mlp", /*ready_there=*/true);
  stopping.join();
  EXPECT_GE(MsSince(switched), 1000);
  EXPECT_EQ(Infer("mlp"), "[1][3]");  // until the Worker is destroyed
}

// The drain ends at --drain-timeout, or at once on StopDraining (a second
// SIGTERM), however long the other worker takes.
TEST_F(ModelHostTest, TheDrainEndsAtItsTimeoutOrWhenStopped) {
  StopWorker();
  drain_timeout_ms_ = 300;
  StartWorker();
  ASSERT_TRUE(LeaseHeld());
  Moving("mlp", /*ready_there=*/false);
  auto start = std::chrono::steady_clock::now();
  worker_->Shutdown();
  const int64_t timed_out_ms = MsSince(start);
  EXPECT_GE(timed_out_ms, 300);
  EXPECT_LT(timed_out_ms, 10000);

  StopWorker();
  drain_timeout_ms_ = 30000;
  StartWorker();
  ASSERT_TRUE(LeaseHeld());
  std::thread stopping([&] { worker_->Shutdown(); });
  ASSERT_TRUE(AskedAgain(2));
  start = std::chrono::steady_clock::now();
  worker_->StopDraining();
  stopping.join();
  const int64_t stopped_ms = MsSince(start);
  std::cout << "drain: ended by its 300 ms timeout after " << timed_out_ms
            << " ms; by StopDraining " << stopped_ms << " ms after the call\n";
  EXPECT_LT(stopped_ms, 10000);
}

// Calls in flight when the worker stops finish with their answer: the
// model's batcher holds each call 500 ms (max_queue_delay for a batch of
// 64 that never fills), and the worker stops 200 ms into that.
TEST_F(ModelHostTest, CallsInFlightWhenItStopsAreAnswered) {
  StopWorker();
  testing::WriteFile(Models() + "/slow/1/model.keras", Archive("mlp_adam.keras"));
  testing::WriteFile(Models() + "/slow/config.json",
                     R"({"max_batch_size": 64, "dynamic_batching": )"
                     R"({"preferred_batch_size": [64], "max_queue_delay_microseconds": 500000}})");
  StartWorker();
  ASSERT_TRUE(Ready("slow"));
  std::vector<std::string> results(4);
  std::vector<std::thread> calls;
  for (std::string& result : results) {
    calls.emplace_back([&] { result = Infer("slow"); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto stopping = std::chrono::steady_clock::now();
  StopWorker();
  for (std::thread& call : calls) call.join();
  std::cout << "stopping with 4 calls in flight took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - stopping)
                   .count()
            << " ms\n";
  EXPECT_THAT(results, ::testing::Each(std::string("[1][3]")));
}

// Holds the download of one checkpoint (HostOnly's fetch) until Release().
struct HeldFetch {
  std::mutex mu;
  std::condition_variable changed;
  bool fetching = false;  // guarded by mu: the held download has started
  bool release = false;   // guarded by mu

  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu);
      release = true;
    }
    changed.notify_all();
  }
};

// Options for a ModelHost on its own (no worker): checkpoint `id` downloads
// as bytes(id), and the download of `held_id` waits for held.Release().
ModelHostOptions HostOnly(const TempDir& dir, HeldFetch& held, const std::string& held_id,
                          std::function<std::string(const std::string&)> bytes) {
  ModelHostOptions options;
  options.models_dir = dir.File("models");
  options.metrics_registry = std::make_shared<prometheus::Registry>();
  options.fetch = [&held, held_id, bytes](const std::string& id, const std::string& dest) {
    if (id == held_id) {
      std::unique_lock<std::mutex> lock(held.mu);
      held.fetching = true;
      held.changed.notify_all();
      held.changed.wait(lock, [&] { return held.release; });
    }
    testing::WriteFile(dest, bytes(id));
    return absl::OkStatus();
  };
  options.on_change = [] {};
  options.log = [](const std::string&) {};
  return options;
}

v1::HostModel Request(const std::string& name, int64_t version, const std::string& id,
                      const std::string& bytes) {
  v1::HostModel model;
  model.set_name(name);
  model.set_version(version);
  model.set_checkpoint_id(id);
  model.set_sha256(Digest(bytes));
  model.set_size_bytes(static_cast<int64_t>(bytes.size()));
  return model;
}

// "name:version:STATE ..." as `host` reports it; each call is a report,
// which lets a download start (it waits until its LOADING was reported).
std::string Report(const ModelHost& host) {
  std::string out;
  for (const v1::HostedModel& m : host.Hosted()) {
    absl::StrAppend(&out, out.empty() ? "" : " ", m.name(), ":", m.version(), ":",
                    v1::HostedModel::State_Name(m.state()).substr(6));
  }
  return out;
}

// Reports every 10 ms until `done` (at most 10 s); whether it is.
bool ReportUntil(const ModelHost& host, const std::function<bool()>& done) {
  for (int i = 0; i < 1000 && !done(); ++i) {
    Report(host);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// Operations on different models never wait for each other, those on one
// model keep their order. Model b's download is held (the fetch hook blocks
// until released) while a is unhosted and c hosted; b's version 2, asked for
// meanwhile, runs after version 1 and wins.
TEST(ModelHostLanesTest, AnUnhostDoesNotWaitForAnotherModelsSlowLoad) {
  TempDir dir;
  HeldFetch held;
  absl::StatusOr<std::unique_ptr<ModelHost>> started =
      ModelHost::Start(HostOnly(dir, held, "ckpt-b1", [](const std::string& id) {
        return Archive(id == "ckpt-b2" ? "mlp_sgd.keras" : "mlp_adam.keras");
      }));
  ASSERT_TRUE(started.ok()) << started.status();
  ModelHost& host = **started;
  const std::string a = dir.File("models/a");

  host.Host(Request("a", 1, "ckpt-a1", Archive("mlp_adam.keras")));
  ASSERT_TRUE(ReportUntil(host, [&] { return Report(host) == "a:1:READY"; })) << Report(host);
  host.Host(Request("b", 1, "ckpt-b1", Archive("mlp_adam.keras")));
  ASSERT_TRUE(ReportUntil(host, [&] {
    std::lock_guard<std::mutex> lock(held.mu);
    return held.fetching;
  }));
  host.Host(Request("b", 2, "ckpt-b2", Archive("mlp_sgd.keras")));  // queued behind b's version 1

  const auto unhosted = std::chrono::steady_clock::now();
  host.Unhost("a");
  host.Host(Request("c", 1, "ckpt-c1", Archive("mlp_adam.keras")));
  EXPECT_TRUE(ReportUntil(host, [&] {
    return !fs::exists(a) && Report(host) == "b:2:LOADING c:1:READY";
  })) << Report(host);
  std::cout << "unhost of a and load of c while b's load is held: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - unhosted)
                   .count()
            << " ms\n";
  {
    std::lock_guard<std::mutex> lock(held.mu);
    EXPECT_FALSE(held.release);  // b never moved meanwhile
  }
  held.Release();
  EXPECT_TRUE(ReportUntil(host, [&] { return Report(host) == "b:2:READY c:1:READY"; }))
      << Report(host);
  EXPECT_TRUE(fs::exists(dir.File("models/b/2/model.keras")));
  EXPECT_FALSE(fs::exists(dir.File("models/b/1")));
}

// While a new version of a name loads (or after it FAILED), the version
// still served is listed READY before it: a coordinator that restarts
// meanwhile learns from the registration that it still answers.
TEST(ModelHostLanesTest, TheServedVersionIsListedWhileANewOneLoads) {
  TempDir dir;
  HeldFetch held;
  absl::StatusOr<std::unique_ptr<ModelHost>> started =
      ModelHost::Start(HostOnly(dir, held, "ckpt-2", [](const std::string& id) {
        return id == "ckpt-3" ? std::string("garbage") : Archive("mlp_adam.keras");
      }));
  ASSERT_TRUE(started.ok()) << started.status();
  ModelHost& host = **started;
  auto request = [](int64_t version, const std::string& id, const std::string& bytes) {
    v1::HostModel model;
    model.set_name("m");
    model.set_version(version);
    model.set_checkpoint_id(id);
    model.set_sha256(Digest(bytes));
    model.set_size_bytes(static_cast<int64_t>(bytes.size()));
    return model;
  };
  auto report = [&] {
    std::string out;
    for (const v1::HostedModel& m : host.Hosted()) {
      absl::StrAppend(&out, out.empty() ? "" : " ", m.name(), ":", m.version(), ":",
                      v1::HostedModel::State_Name(m.state()).substr(6), ":", m.checkpoint_id());
    }
    return out;
  };
  auto wait_until = [&](const std::string& expected) {
    for (int i = 0; i < 1000 && report() != expected; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return report();
  };
  const std::string adam = Archive("mlp_adam.keras");
  host.Host(request(1, "ckpt-1", adam));
  EXPECT_EQ(wait_until("m:1:READY:ckpt-1"), "m:1:READY:ckpt-1");
  host.Host(request(2, "ckpt-2", adam));
  {
    std::unique_lock<std::mutex> lock(held.mu);
    report();  // lets the download start
    ASSERT_TRUE(
        held.changed.wait_for(lock, std::chrono::seconds(10), [&] { return held.fetching; }));
  }
  EXPECT_EQ(report(), "m:1:READY:ckpt-1 m:2:LOADING:ckpt-2");
  held.Release();
  EXPECT_EQ(wait_until("m:2:READY:ckpt-2"), "m:2:READY:ckpt-2");
  // A version that FAILS leaves the one before it serving, and listed.
  host.Host(request(3, "ckpt-3", "garbage"));
  EXPECT_EQ(wait_until("m:2:READY:ckpt-2 m:3:FAILED:ckpt-3"), "m:2:READY:ckpt-2 m:3:FAILED:ckpt-3");
}

// After version 2 is READY, a request naming version 1 is still answered
// for the grace, then NOT_FOUND; a request naming no version gets 2 at once.
TEST(ModelHostGraceTest, AReplacedVersionAnswersRequestsNamingItDuringTheGrace) {
  TempDir dir;
  HeldFetch held;
  const std::string adam = Archive("mlp_adam.keras");
  ModelHostOptions options = HostOnly(dir, held, "", [&](const std::string&) { return adam; });
  // Long enough that the two calls right after READY come within it even
  // when a loaded CI machine stalls the test for a second or two.
  constexpr auto kGrace = std::chrono::milliseconds(3000);
  options.old_version_grace = kGrace;
  absl::StatusOr<std::unique_ptr<ModelHost>> started = ModelHost::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  ModelHost& host = **started;
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(host.address(), grpc::InsecureChannelCredentials()));
  // ModelMetadata of m at `version`: its code, and the version that answered.
  auto metadata = [&](const std::string& version) {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest request;
    request.set_name("m");
    request.set_version(version);
    inference::ModelMetadataResponse response;
    const grpc::Status status = stub->ModelMetadata(&ctx, request, &response);
    return std::make_pair(status.error_code(),
                          response.versions_size() > 0 ? response.versions(0) : std::string());
  };
  host.Host(Request("m", 1, "ckpt-1", adam));
  ASSERT_TRUE(ReportUntil(host, [&] { return Report(host) == "m:1:READY"; })) << Report(host);
  const auto asked = std::chrono::steady_clock::now();  // before version 1 is replaced
  host.Host(Request("m", 2, "ckpt-2", adam));
  ASSERT_TRUE(ReportUntil(host, [&] { return Report(host) == "m:2:READY"; })) << Report(host);
  const auto ready = std::chrono::steady_clock::now();
  EXPECT_EQ(metadata(""), std::make_pair(grpc::StatusCode::OK, std::string("2")));
  EXPECT_EQ(metadata("1"), std::make_pair(grpc::StatusCode::OK, std::string("1")));
  ASSERT_LT(std::chrono::steady_clock::now() - ready, kGrace) << "the machine stalled";
  EXPECT_FALSE(fs::exists(dir.File("models/m/1")));  // served from memory

  while (metadata("1").first == grpc::StatusCode::OK &&
         std::chrono::steady_clock::now() - ready < std::chrono::seconds(20)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(metadata("1").first, grpc::StatusCode::NOT_FOUND);
  EXPECT_GE(std::chrono::steady_clock::now() - asked, kGrace);
  EXPECT_EQ(metadata("2"), std::make_pair(grpc::StatusCode::OK, std::string("2")));
}

// With max_loads 2, a third load waits while two downloads are held; an
// unhost of a READY model and of the waiting one do not wait, and the
// waiting one then never downloads.
TEST(ModelHostLanesTest, LoadsWaitForASlotAndUnhostsDoNot) {
  TempDir dir;
  HeldFetch held;
  const std::string adam = Archive("mlp_adam.keras");
  ModelHostOptions options = HostOnly(dir, held, "", [&](const std::string&) { return adam; });
  options.max_loads = 2;
  std::vector<std::string> fetched;  // guarded by held.mu
  options.fetch = [&](const std::string& id, const std::string& dest) {
    {
      std::unique_lock<std::mutex> lock(held.mu);
      fetched.push_back(id);
      if (id != "ckpt-d") held.changed.wait(lock, [&] { return held.release; });
    }
    testing::WriteFile(dest, adam);
    return absl::OkStatus();
  };
  std::mutex log_mu;
  std::string log;  // guarded by log_mu
  options.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mu);
    absl::StrAppend(&log, line, "\n");
  };
  auto logged = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mu);
    return absl::StrContains(log, line);
  };
  auto downloads = [&] {
    std::lock_guard<std::mutex> lock(held.mu);
    std::vector<std::string> sorted = fetched;
    std::sort(sorted.begin(), sorted.end());
    return absl::StrJoin(sorted, " ");
  };
  absl::StatusOr<std::unique_ptr<ModelHost>> started = ModelHost::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  ModelHost& host = **started;

  host.Host(Request("d", 1, "ckpt-d", adam));
  ASSERT_TRUE(ReportUntil(host, [&] { return Report(host) == "d:1:READY"; })) << Report(host);
  host.Host(Request("a", 1, "ckpt-a", adam));
  host.Host(Request("b", 1, "ckpt-b", adam));
  ASSERT_TRUE(ReportUntil(host, [&] { return downloads() == "ckpt-a ckpt-b ckpt-d"; }))
      << downloads();
  host.Host(Request("c", 1, "ckpt-c", adam));
  // 300 ms more of reports: c's LOADING is long reported, it waits for a slot.
  for (int i = 0; i < 30; ++i) {
    Report(host);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(downloads(), "ckpt-a ckpt-b ckpt-d");
  EXPECT_EQ(Report(host), "a:1:LOADING b:1:LOADING c:1:LOADING d:1:READY");

  const auto unhosted = std::chrono::steady_clock::now();
  host.Unhost("d");
  host.Unhost("c");
  EXPECT_TRUE(ReportUntil(host, [&] {
    return logged("model d unhosted") && logged("model c unhosted");
  })) << log;
  std::cout << "unhosts while two loads hold both slots: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - unhosted)
                   .count()
            << " ms\n";
  EXPECT_FALSE(fs::exists(dir.File("models/d")));
  EXPECT_EQ(Report(host), "a:1:LOADING b:1:LOADING");
  held.Release();
  EXPECT_TRUE(ReportUntil(host, [&] { return Report(host) == "a:1:READY b:1:READY"; }))
      << Report(host);
  EXPECT_EQ(downloads(), "ckpt-a ckpt-b ckpt-d");  // c never downloaded
  EXPECT_FALSE(fs::exists(dir.File("models/c")));
}

TEST(ModelHostStartTest, RejectsAMalformedListenAddress) {
  TempDir dir;
  ModelHostOptions options;
  options.models_dir = dir.File("models");
  options.listen = "localhost";
  absl::StatusOr<std::unique_ptr<ModelHost>> host = ModelHost::Start(options);
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(host.status().message(), HasSubstr("--inference-listen: expected HOST:PORT"));
}

}  // namespace
}  // namespace fornax::worker
