// The fornax-worker binary: its "listening" line, SIGTERM stopping it
// gracefully (exit 0, its job process gone with it, a preempted result sent
// for its job, then Leave), a bad --inference-listen refused at start, and
// the model host's flags listed in --help and range-checked.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/fake_coordinator_test_util.h"
#include "worker/test_jobs.h"

namespace fornax::worker {
namespace {

using testing::FakeCoordinator;
using testing::TempDir;

TEST(WorkerMainTest, PrintsListeningAndStopsGracefullyOnSigterm) {
  TempDir dir;
  FakeCoordinator coordinator;
  coordinator.Start();
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  const std::string address = coordinator.address();
  const std::string work = dir.File("work");
  const char* argv[] = {
      FORNAX_WORKER_BIN, "--coordinator", address.c_str(),    "--name",      "w1",
      "--work-dir",      work.c_str(),    "--metrics-listen", "127.0.0.1:0", nullptr};
  pid_t pid = 0;
  ASSERT_EQ(
      posix_spawn(&pid, FORNAX_WORKER_BIN, &actions, nullptr, const_cast<char**>(argv), environ),
      0);
  posix_spawn_file_actions_destroy(&actions);
  // A failed assertion must not leave the worker running.
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  close(out[1]);
  FILE* stdout_of_worker = fdopen(out[0], "r");
  char line[256] = {};
  ASSERT_NE(fgets(line, sizeof(line), stdout_of_worker), nullptr);
  EXPECT_THAT(
      line,
      ::testing::MatchesRegex(
          "listening grpc=- metrics=127\\.0\\.0\\.1:[0-9]+ inference=127\\.0\\.0\\.1:[0-9]+\n"));

  v1::LeaseResponse assign;
  assign.mutable_assign()->set_job_id("j1");
  assign.mutable_assign()->mutable_spec()->set_job_yaml(
      testing::JobYaml(1000, "/usr/share/datasets/fashion-mnist/"));
  assign.mutable_assign()->mutable_spec()->set_model_json(testing::ModelJson());
  coordinator.Send(assign);
  ASSERT_TRUE(coordinator.WaitFor([&] {
    for (const auto& [seq, e] : coordinator.events["j1"])
      if (e.has_epoch()) return true;
    return false;
  }));
  // The job process: the worker's only child (forked by one of its threads).
  std::string children;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"))) {
    children += testing::ReadFileOrEmpty(task.path().string() + "/children");
  }
  ASSERT_FALSE(children.empty());
  const pid_t job = static_cast<pid_t>(std::stol(children));

  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  reaper.pid = 0;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(seconds, 8.0);
  EXPECT_NE(kill(job, 0), 0) << "the job process outlived its worker";
  fclose(stdout_of_worker);
  // Preempted, not failed: the last thing it sent before exiting is a
  // preempted result, so the coordinator requeues the job at once.
  const v1::WorkerEvent& last = coordinator.events["j1"].rbegin()->second;
  ASSERT_TRUE(last.has_result()) << last.ShortDebugString();
  EXPECT_TRUE(last.result().preempted()) << last.ShortDebugString();
  EXPECT_FALSE(last.result().has_failure());
  // Then it left, on its session, with nothing reported after that.
  ASSERT_EQ(coordinator.leaves.size(), 1u);
  EXPECT_EQ(coordinator.leaves[0], "s1");
  EXPECT_EQ(coordinator.reports_at_leave, coordinator.reports);
}

// SIGTERM while the coordinator still sends clients here for a deployment
// that loads elsewhere: the worker leaves and keeps serving (draining); a
// second SIGTERM makes it exit at once.
TEST(WorkerMainTest, ASecondSigtermEndsTheDrain) {
  TempDir dir;
  FakeCoordinator coordinator;
  coordinator.Start();
  v1::Deployment moving;
  moving.set_name("mlp");
  moving.set_worker_id("w2");
  moving.set_state(v1::DEPLOYMENT_STATE_LOADING);
  moving.mutable_serving()->set_worker_id("w1");
  coordinator.deployments = {moving};
  const std::string address = coordinator.address();
  const std::string work = dir.File("work");
  const char* argv[] = {
      FORNAX_WORKER_BIN, "--coordinator", address.c_str(),    "--name",      "w1",
      "--work-dir",      work.c_str(),    "--metrics-listen", "127.0.0.1:0", nullptr};
  pid_t pid = 0;
  ASSERT_EQ(
      posix_spawn(&pid, FORNAX_WORKER_BIN, nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  // Its lease is held (it leaves, and so drains, only with one).
  ASSERT_TRUE(coordinator.WaitFor([&] { return coordinator.lease_requests > 0; }));
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(coordinator.WaitFor([&] { return coordinator.deployment_lists >= 3; }, 10));
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, WNOHANG), 0) << "it exited while draining";
  EXPECT_TRUE(coordinator.WaitFor([&] { return coordinator.leaves.size() == 1; }, 1));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  reaper.pid = 0;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "exited " << seconds << " s after the second SIGTERM\n";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_LT(seconds, 10.0);  // the drain would have held it 30 s
}

// Runs fornax-worker with `args` until it exits; its stdout and stderr.
struct Exited {
  int status = -1;
  std::string output;
};
Exited RunToExit(const std::vector<std::string>& args) {
  std::vector<char*> argv = {const_cast<char*>(FORNAX_WORKER_BIN)};
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, out[1], 2);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, FORNAX_WORKER_BIN, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  Exited exited;
  char buffer[1024];
  for (ssize_t n; spawned == 0 && (n = read(out[0], buffer, sizeof(buffer))) > 0;) {
    exited.output.append(buffer, n);
  }
  close(out[0]);
  if (spawned == 0) waitpid(pid, &exited.status, 0);
  return exited;
}

TEST(WorkerMainTest, RefusesAMalformedInferenceListenAddress) {
  TempDir dir;
  const Exited exited =
      RunToExit({"--work-dir", dir.File("work"), "--metrics-listen", "127.0.0.1:0",
                 "--inference-listen", "localhost", "--coordinator", "127.0.0.1:1"});
  EXPECT_TRUE(WIFEXITED(exited.status) && WEXITSTATUS(exited.status) == 1) << exited.status;
  EXPECT_THAT(exited.output,
              ::testing::HasSubstr("--inference-listen: expected HOST:PORT (port 0: any free "
                                   "one) or none, got 'localhost'"));
}

// --model-loads and --old-version-grace (ModelHostOptions) are listed in
// --help, and a value out of range is refused naming the flag and the range.
TEST(WorkerMainTest, ModelHostFlagsAreListedAndRangeChecked) {
  const Exited help = RunToExit({"--help"});
  EXPECT_TRUE(WIFEXITED(help.status) && WEXITSTATUS(help.status) == 0) << help.status;
  EXPECT_THAT(help.output, ::testing::HasSubstr("[--model-loads N]"));
  EXPECT_THAT(help.output, ::testing::HasSubstr("[--old-version-grace SECONDS]"));
  TempDir dir;
  const std::string work = dir.File("work");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--model-loads", "0"}, "--model-loads: expected an integer between 1 and 64, got '0'"},
      {{"--model-loads=65"}, "--model-loads: expected an integer between 1 and 64, got '65'"},
      {{"--old-version-grace", "-1"},
       "--old-version-grace: expected an integer between 0 and 3600, got '-1'"},
      {{"--old-version-grace", "2.5"},
       "--old-version-grace: expected an integer between 0 and 3600, got '2.5'"},
      {{"--old-version-grace", "3601"},
       "--old-version-grace: expected an integer between 0 and 3600, got '3601'"},
  };
  for (const auto& [flag, error] : cases) {
    std::vector<std::string> args = {"--work-dir", work, "--coordinator", "127.0.0.1:1"};
    args.insert(args.end(), flag.begin(), flag.end());
    const Exited exited = RunToExit(args);
    // 2: a usage error, as for any bad flag.
    EXPECT_TRUE(WIFEXITED(exited.status) && WEXITSTATUS(exited.status) == 2)
        << flag[0] << ": " << exited.status;
    EXPECT_THAT(exited.output, ::testing::HasSubstr(error));
  }
}

// --max-job-files-bytes is listed in --help and must be a byte count.
TEST(WorkerMainTest, MaxJobFilesBytesIsListedAndChecked) {
  const Exited help = RunToExit({"--help"});
  EXPECT_THAT(help.output, ::testing::HasSubstr("[--max-job-files-bytes N]"));
  TempDir dir;
  for (const std::string value : {"-1", "1e6", "lots"}) {
    const Exited exited = RunToExit({"--work-dir", dir.File("work"), "--coordinator", "127.0.0.1:1",
                                     "--max-job-files-bytes", value});
    EXPECT_TRUE(WIFEXITED(exited.status) && WEXITSTATUS(exited.status) == 2) << value;
    EXPECT_THAT(exited.output,
                ::testing::HasSubstr(absl::StrCat("--max-job-files-bytes: expected an integer "
                                                  "between 0 and 9223372036854775807, got '",
                                                  value, "'")));
  }
}

// --max-job-files is listed in --help and must be a count.
TEST(WorkerMainTest, MaxJobFilesIsListedAndChecked) {
  const Exited help = RunToExit({"--help"});
  EXPECT_THAT(help.output, ::testing::HasSubstr("[--max-job-files N]"));
  TempDir dir;
  for (const std::string value : {"-1", "1e4", "many"}) {
    const Exited exited = RunToExit(
        {"--work-dir", dir.File("work"), "--coordinator", "127.0.0.1:1", "--max-job-files", value});
    EXPECT_TRUE(WIFEXITED(exited.status) && WEXITSTATUS(exited.status) == 2) << value;
    EXPECT_THAT(exited.output, ::testing::HasSubstr(absl::StrCat(
                                   "--max-job-files: expected an integer between 0 and "
                                   "9223372036854775807, got '",
                                   value, "'")));
  }
}

}  // namespace
}  // namespace fornax::worker
