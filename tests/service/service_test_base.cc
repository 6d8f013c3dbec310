#include "tests/service/service_test_base.h"

#include <grpcpp/grpcpp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/data/idx.h"
#include "engine/data/npy.h"
#include "engine/data/test_files.h"
#include "nlohmann/json.hpp"

namespace fornax::service_testing {
namespace {

std::string Tail(const std::string& text, size_t bytes) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

}  // namespace

bool Ended(const v1::Job& job) {
  return job.state() == v1::JOB_STATE_SUCCEEDED || job.state() == v1::JOB_STATE_FAILED ||
         job.state() == v1::JOB_STATE_CANCELLED;
}

JobWatcher::JobWatcher(const std::string& address, std::string job_id, absl::Duration window)
    : client_(address), job_id_(std::move(job_id)), window_(window), thread_([this] { Run(); }) {}

JobWatcher::~JobWatcher() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

const std::vector<v1::JobEvent>& JobWatcher::Finish(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done_ && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  stop_ = true;
  thread_.join();
  return events_;
}

void JobWatcher::Run() {
  while (!stop_) {
    const int64_t after = events_.empty() ? 0 : events_.back().sequence();
    const size_t before = events_.size();
    absl::Status status = client_.Watch(job_id_, after, false, &events_, window_);
    for (size_t i = before; i < events_.size(); ++i) {
      const v1::JobEvent& e = events_[i];
      if (e.has_state() && (e.state().state() == v1::JOB_STATE_SUCCEEDED ||
                            e.state().state() == v1::JOB_STATE_FAILED ||
                            e.state().state() == v1::JOB_STATE_CANCELLED)) {
        done_ = true;
        return;
      }
    }
    if (status.code() == absl::StatusCode::kDeadlineExceeded) {
      absl::StatusOr<v1::Job> job = client_.Get(job_id_);
      if (job.ok() && Ended(*job)) ++stuck_windows_;
    } else if (!status.ok()) {
      ++reconnects_;  // the coordinator went away
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

std::vector<pid_t> JobProcesses(const Daemon& worker) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    std::vector<pid_t> live;
    for (pid_t pid : ChildPids(worker.pid())) {
      if (ProcessAlive(pid)) live.push_back(pid);
    }
    if (!live.empty()) return live;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return {};
}

std::string SequenceProblems(const std::vector<v1::JobEvent>& events) {
  std::string problems;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].sequence() != static_cast<int64_t>(i) + 1) {
      absl::StrAppend(&problems, "event #", i + 1, " has sequence ", events[i].sequence(), "; ");
    }
  }
  return problems;
}

void ServiceTest::SetUp() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // The pid keeps concurrent runs of the suite (several build dirs) apart.
  dir_ = absl::StrCat(::testing::TempDir(), "fornax_service_", info->test_suite_name(), "_",
                      info->name(), ".", getpid());
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

void ServiceTest::TearDown() {
  if (HasFailure()) {
    for (const std::string& log : logs_) {
      std::cerr << "----- " << log << " -----\n"
                << Tail(testing::ReadFileOrEmpty(log), 6000) << "\n";
    }
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::unique_ptr<Daemon> ServiceTest::StartCoordinator(int port, int lease_timeout_ms,
                                                      const std::vector<std::string>& flags) {
  const std::string log = Path(absl::StrCat("coordinator.", logs_.size(), ".log"));
  logs_.push_back(log);
  std::vector<std::string> args = {"--listen",         absl::StrCat("127.0.0.1:", port),
                                   "--data-dir",       Path("coordinator"),
                                   "--metrics-listen", "127.0.0.1:0"};
  if (lease_timeout_ms > 0) {
    args.insert(args.end(), {"--lease-timeout-ms", absl::StrCat(lease_timeout_ms),
                             "--heartbeat-interval-ms", "500"});
  }
  args.insert(args.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(FORNAX_COORDINATOR_BIN, args, log);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? std::move(*d) : nullptr;
}

std::unique_ptr<Daemon> ServiceTest::StartWorker(const std::string& name, const Daemon& coordinator,
                                                 const std::vector<std::string>& flags) {
  const std::string log = Path(absl::StrCat("worker-", name, ".", logs_.size(), ".log"));
  logs_.push_back(log);
  std::vector<std::string> args = {
      "--coordinator",        coordinator.grpc_address(), "--name",      name,      "--work-dir",
      Path("worker-" + name), "--metrics-listen",         "127.0.0.1:0", "--slots", "1"};
  args.insert(args.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(FORNAX_WORKER_BIN, args, log);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? std::move(*d) : nullptr;
}

void ServiceTest::StartTwoWorkers(int lease_timeout_ms, TwoWorkers& cluster) {
  cluster.coordinator = StartCoordinator(0, lease_timeout_ms);
  ASSERT_NE(cluster.coordinator, nullptr);
  for (const char* name : {"w1", "w2"}) {
    cluster.workers[name] = StartWorker(name, *cluster.coordinator);
    ASSERT_NE(cluster.workers[name], nullptr) << name;
  }
}

void ServiceTest::WriteData(int samples) {
  const std::string dir = Path(absl::StrCat("data_", samples));
  if (std::filesystem::exists(dir + "/y.npy")) return;
  std::filesystem::create_directories(dir);
  const std::string fashion = "/usr/share/datasets/fashion-mnist/";
  absl::StatusOr<Tensor> x = ReadIdx(fashion + "train-images-idx3-ubyte.gz");
  absl::StatusOr<Tensor> y = ReadIdx(fashion + "train-labels-idx1-ubyte.gz");
  ASSERT_TRUE(x.ok() && y.ok()) << x.status() << y.status();
  ASSERT_TRUE(WriteNpy(dir + "/x.npy", x->SliceRows(0, samples)).ok());
  ASSERT_TRUE(WriteNpy(dir + "/y.npy", y->SliceRows(0, samples)).ok());
}

std::string ServiceTest::ModelJson(int hidden) const {
  nlohmann::json model = nlohmann::json::parse(
      testing::ReadFileOrEmpty(SourceDir() + "/tests/testdata/cli/small_mlp.json"));
  for (nlohmann::json& layer : model["config"]["layers"]) {
    if (layer["config"]["name"] == "hidden") layer["config"]["units"] = hidden;
    if (layer["config"]["name"] == "predictions") layer["build_config"]["input_shape"][1] = hidden;
  }
  model.erase("build_config");
  model.erase("compile_config");
  return model.dump();
}

std::string ServiceTest::JobYaml(const JobOptions& o, const std::string& x,
                                 const std::string& y) const {
  return absl::StrCat(
      "model: model.json\n"
      "compile:\n"
      "  optimizer: {class_name: Adam, config: {learning_rate: 0.001}}\n"
      "  loss: sparse_categorical_crossentropy\n"
      "  metrics: [accuracy]\n"
      "fit: {epochs: ",
      o.epochs, ", batch_size: ", o.batch_size, ", seed: ", o.seed,
      "}\n"
      "data:\n"
      "  train:\n"
      "    x: {path: ",
      x,
      ", scale: 0.00392156862745098, reshape: [784]}\n"
      "    y: ",
      y, "\n");
}

v1::JobSpec ServiceTest::Spec(const JobOptions& options, const std::string& address) {
  WriteData(options.samples);
  ServiceClient client(address);
  std::map<std::string, v1::InputFile>& stored = uploaded_[address];
  for (const char* name : {"x.npy", "y.npy"}) {
    const std::string local = Path(absl::StrCat("data_", options.samples, "/", name));
    if (stored.count(local) != 0) continue;
    absl::StatusOr<v1::InputFile> file = client.Upload(local);
    EXPECT_TRUE(file.ok()) << file.status();
    if (file.ok()) stored[local] = *file;
  }
  const v1::InputFile& x = stored[Path(absl::StrCat("data_", options.samples, "/x.npy"))];
  const v1::InputFile& y = stored[Path(absl::StrCat("data_", options.samples, "/y.npy"))];
  v1::JobSpec spec;
  spec.set_name(options.name);
  spec.set_job_yaml(JobYaml(options, x.path(), y.path()));
  spec.set_model_json(ModelJson(options.hidden));
  *spec.add_inputs() = x;
  *spec.add_inputs() = y;
  spec.set_priority(options.priority);
  spec.set_max_restarts(options.max_restarts);
  spec.set_owner("service-test");
  return spec;
}

std::string ServiceTest::WriteLocalJob(const JobOptions& options) {
  WriteData(options.samples);
  const std::string dir = Path(options.name);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/model.json") << ModelJson(options.hidden);
  const std::string data = Path(absl::StrCat("data_", options.samples));
  std::ofstream(dir + "/job.yaml") << JobYaml(options, data + "/x.npy", data + "/y.npy");
  return dir + "/job.yaml";
}

absl::StatusOr<v1::Job> ServiceTest::WaitForJob(ServiceClient& client, const std::string& job_id,
                                                const std::function<bool(const v1::Job&)>& done,
                                                absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<v1::Job> job;
  while (true) {
    job = client.Get(job_id);
    if (job.ok() && done(*job)) return job;
    if (absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!job.ok()) return job.status();
  return absl::DeadlineExceededError(absl::StrCat(
      "job ", job_id, " after ", absl::FormatDuration(timeout), ": ", job->ShortDebugString()));
}

std::vector<v1::Job> ServiceTest::WaitForAllEnded(ServiceClient& client,
                                                  const std::vector<std::string>& ids,
                                                  absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<v1::Job> jobs;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::Job> job =
        WaitForJob(client, id, Ended, std::max(deadline - absl::Now(), absl::Seconds(1)));
    EXPECT_TRUE(job.ok()) << job.status();
    jobs.push_back(job.ok() ? *job : v1::Job());
  }
  return jobs;
}

std::string ServiceTest::TrainJob(const std::string& address, int seed, int hidden) {
  ServiceClient client(address);
  JobOptions options;
  options.name = absl::StrCat("fmnist-seed", seed);
  options.epochs = 2;
  options.seed = seed;
  options.hidden = hidden;
  absl::StatusOr<v1::Job> job = client.Submit(Spec(options, address));
  EXPECT_TRUE(job.ok()) << job.status();
  if (!job.ok()) return "";
  absl::StatusOr<v1::Job> done = WaitForJob(client, job->job_id(), Ended, absl::Seconds(120));
  EXPECT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done.ok() ? done->state() : v1::JOB_STATE_UNSPECIFIED, v1::JOB_STATE_SUCCEEDED);
  return job->job_id();
}

v1::Deployment ServiceTest::GetDeployment(const std::string& address, const std::string& name) {
  auto stub =
      v1::Deployments::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetDeploymentRequest request;
  request.set_name(name);
  v1::Deployment d;
  grpc::Status status = stub->GetDeployment(&context, request, &d);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return d;
}

std::string ServiceTest::WorkerLog(const std::string& name) {
  // logs_ holds every log this test started, in the order it started them.
  const std::string prefix = Path(absl::StrCat("worker-", name, "."));
  std::string log;
  for (const std::string& file : logs_) {
    if (file.starts_with(prefix)) log += testing::ReadFileOrEmpty(file);
  }
  return log;
}

CliResult ServiceTest::RunCli(const std::string& address, const std::vector<std::string>& args) {
  const int run = cli_runs_++;
  const std::string out = Path(absl::StrCat("cli.", run, ".out"));
  const std::string err = Path(absl::StrCat("cli.", run, ".err"));
  std::string cmd = absl::StrCat("timeout -s KILL 180 '", FORNAX_BIN, "' --coordinator ", address);
  for (const std::string& a : args) absl::StrAppend(&cmd, " '", a, "'");
  absl::StrAppend(&cmd, " >'", out, "' 2>'", err, "' </dev/null");
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = testing::ReadFileOrEmpty(out);
  r.err = testing::ReadFileOrEmpty(err);
  return r;
}

}  // namespace fornax::service_testing
