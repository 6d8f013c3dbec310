// ServiceTest: the fixture of the service integration tests. Each test gets a
// temp directory, starts real fornax-coordinator and fornax-worker processes
// on loopback (paths baked in by CMake), builds small Fashion-MNIST jobs (the
// first N training samples as .npy files, a one-hidden-layer MLP), submits
// them over gRPC as the CLI does (upload, paths rewritten to
// inputs/<sha256>/<basename>), and runs the `fornax` CLI as a subprocess.
// When a test fails, the tail of every daemon's log is printed.
#ifndef FORNAX_TESTS_SERVICE_SERVICE_TEST_BASE_H_
#define FORNAX_TESTS_SERVICE_SERVICE_TEST_BASE_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/data/test_files.h"
#include "gtest/gtest.h"
#include "proto/fornax/v1/deployments.grpc.pb.h"
#include "tests/service/daemon.h"
#include "tests/service/service_client.h"

namespace fornax::service_testing {

struct JobOptions {
  // A job of a few seconds (about 0.1 s per epoch on an idle core) for tests
  // that act while it runs.
  static JobOptions Long(int epochs) {
    JobOptions o;
    o.samples = 16384;
    o.batch_size = 128;
    o.hidden = 128;
    o.epochs = epochs;
    return o;
  }

  std::string name = "job";
  int samples = 2048;  // first N Fashion-MNIST training samples
  int epochs = 3;
  int batch_size = 64;
  int hidden = 32;  // units of the MLP's hidden layer
  int seed = 1;
  int priority = 0;
  int max_restarts = 2;  // the CLI's default
};

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // A coordinator on 127.0.0.1:`port` (0: any) with data dir dir/coordinator;
  // starting another one with the same port is a restart. lease_timeout_ms 0:
  // the coordinator's default. `flags` (e.g. {"--max-checkpoint-bytes",
  // "1000"}) come after the others.
  std::unique_ptr<Daemon> StartCoordinator(int port = 0, int lease_timeout_ms = 3000,
                                           const std::vector<std::string>& flags = {});
  // Worker `name` with work dir dir/worker-<name>, one slot, and `flags`
  // (e.g. {"--model-loads", "1"}) after the others.
  std::unique_ptr<Daemon> StartWorker(const std::string& name, const Daemon& coordinator,
                                      const std::vector<std::string>& flags = {});

  // A coordinator (lease_timeout_ms as StartCoordinator's) and workers "w1"
  // and "w2" started with it, for the tests that move a job from one worker
  // to the other. Call it in ASSERT_NO_FATAL_FAILURE.
  struct TwoWorkers {
    std::unique_ptr<Daemon> coordinator;
    std::map<std::string, std::unique_ptr<Daemon>> workers;
  };
  void StartTwoWorkers(int lease_timeout_ms, TwoWorkers& cluster);

  // The job's spec with its data uploaded to the coordinator at `address`.
  v1::JobSpec Spec(const JobOptions& options, const std::string& address);
  // The same job as files (job.yaml, model.json, x.npy, y.npy) in dir/<name>,
  // for `fornax train` and `fornax submit`; the job.yaml's path.
  std::string WriteLocalJob(const JobOptions& options);

  // Polls GetJob until `done(job)` or `timeout`; the last job seen.
  absl::StatusOr<v1::Job> WaitForJob(ServiceClient& client, const std::string& job_id,
                                     const std::function<bool(const v1::Job&)>& done,
                                     absl::Duration timeout);
  // Waits until every job ended (SUCCEEDED, FAILED or CANCELLED).
  std::vector<v1::Job> WaitForAllEnded(ServiceClient& client, const std::vector<std::string>& ids,
                                       absl::Duration timeout);

  // Trains a small job on the cluster and returns its id once it succeeded.
  // `hidden` units make the checkpoint bigger: 2048 give a 20 MB .keras that
  // takes a worker a few hundred ms to download and load.
  std::string TrainJob(const std::string& address, int seed, int hidden = 32);
  v1::Deployment GetDeployment(const std::string& address, const std::string& name);
  // What worker `name` logged (every run of it in this test).
  std::string WorkerLog(const std::string& name);

  // `fornax --coordinator ADDRESS ARGS...` with a 180 s limit.
  CliResult RunCli(const std::string& address, const std::vector<std::string>& args);

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;

 private:
  void WriteData(int samples);
  std::string ModelJson(int hidden) const;
  std::string JobYaml(const JobOptions& options, const std::string& x, const std::string& y) const;

  std::vector<std::string> logs_;
  std::map<std::string, std::map<std::string, v1::InputFile>> uploaded_;  // address -> file
  std::atomic<int> cli_runs_{0};  // RunCli may run on several threads
};

using fornax::testing::SourceDir;

bool Ended(const v1::Job& job);

// Follows one job on its own thread: one WatchJob stream from the start until
// the job's final state event, reconnecting with the last sequence seen only
// when the stream breaks (a coordinator restart). A stream that stays open
// past `window` although the job ended is counted in stuck_windows() and
// watched again.
class JobWatcher {
 public:
  JobWatcher(const std::string& address, std::string job_id,
             absl::Duration window = absl::Seconds(60));
  ~JobWatcher();
  // Waits up to `timeout` for the final state event; the events in arrival
  // order.
  const std::vector<v1::JobEvent>& Finish(absl::Duration timeout);
  bool done() const { return done_; }
  int reconnects() const { return reconnects_; }
  int stuck_windows() const { return stuck_windows_; }

 private:
  void Run();

  ServiceClient client_;
  std::string job_id_;
  absl::Duration window_;
  std::vector<v1::JobEvent> events_;  // written by the thread until it ends
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> reconnects_{0};
  std::atomic<int> stuck_windows_{0};
  std::thread thread_;
};

// The worker's live child processes (its jobs), waiting up to 20 s for one.
std::vector<pid_t> JobProcesses(const Daemon& worker);

// The events of one job, checked for the WatchJob contract: sequences 1..N
// with no gap and no duplicate. Empty when the contract holds.
std::string SequenceProblems(const std::vector<v1::JobEvent>& events);

}  // namespace fornax::service_testing

#endif  // FORNAX_TESTS_SERVICE_SERVICE_TEST_BASE_H_
