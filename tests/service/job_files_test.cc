// The files a job's callbacks write (CSVLogger's filename, ModelCheckpoint's
// filepath): on the service each job writes in its own directory on the
// worker, JOBDIR/files, and a path that would leave it is refused when the
// job is submitted (and, for a job stored before that check, when its
// attempt starts); `fornax train` keeps writing where the paths say, from
// the user's working directory. A callback that does not build is refused
// at submit too.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/job_files_util.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::HasSubstr;

void AddCallbacksToFile(const std::string& job_yaml, const std::string& callbacks) {
  const std::string yaml = WithCallbacks(testing::ReadFileOrEmpty(job_yaml), callbacks);
  std::ofstream(job_yaml, std::ios::trunc) << yaml;
}

// The message after the job file's name.
std::string Refusal(const std::string& index_and_class, const std::string& field,
                    const std::string& path, const std::string& why = "has a '..' part") {
  return absl::StrCat("fit.callbacks[", index_and_class, "): ", field,
                      ": expected a relative path inside the job's directory, got '", path, "' (",
                      why, ")");
}

// `sh -c COMMAND`'s exit code.
int Shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The loss of each of the job's first `epochs` epochs as it reported them:
// its WatchJob stream, read until they came (or the job ended).
std::map<int, double> ReportedLosses(ServiceClient& client, const std::string& job_id,
                                     size_t epochs) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  std::unique_ptr<grpc::ClientReader<v1::JobEvent>> reader =
      client.jobs().WatchJob(&context, request);
  std::map<int, double> loss;
  v1::JobEvent e;
  while (loss.size() < epochs && reader->Read(&e)) {
    if (e.has_epoch()) loss[e.epoch().epoch()] = e.epoch().metrics().values().at("loss");
  }
  context.TryCancel();
  reader->Finish();
  return loss;
}

class JobFilesTest : public ServiceTest {
 protected:
  // The job's attempt directory on worker w1 (empty until it exists).
  std::string AttemptDir(const std::string& job_id) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(Path("worker-w1/jobs"), ec)) {
      if (entry.path().filename().string().rfind(job_id + "-", 0) == 0) return entry.path();
    }
    return "";
  }
};

// Two jobs at once on one worker, both logging to `log.csv`: each file is in
// its own job's directory and holds that job's rows (its epoch losses as the
// job reported them), and nothing lands in the worker's working directory.
TEST_F(JobFilesTest, SameCsvLoggerFilenameGivesEachJobItsOwnFile) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  // The worker runs in a directory of its own, so a file written from its
  // working directory is seen.
  const std::string worker_cwd = Path("worker-cwd");
  std::filesystem::create_directories(worker_cwd);
  absl::StatusOr<std::unique_ptr<Daemon>> worker = Daemon::Start(
      "/bin/sh",
      {"-c", absl::StrCat("cd '", worker_cwd, "' && exec '", FORNAX_WORKER_BIN, "' \"$@\""), "sh",
       "--coordinator", address, "--name", "w1", "--work-dir", Path("worker-w1"),
       "--metrics-listen", "127.0.0.1:0", "--slots", "2"},
      Path("worker-w1.log"));
  ASSERT_TRUE(worker.ok()) << worker.status();

  ServiceClient client(address);
  std::vector<std::string> ids;
  for (int seed : {1, 2}) {
    JobOptions options = JobOptions::Long(60);
    options.name = absl::StrCat("csv-", seed);
    options.seed = seed;
    v1::JobSpec spec = Spec(options, address);
    spec.set_job_yaml(WithCallbacks(spec.job_yaml(), "[{CSVLogger: {filename: log.csv}}]"));
    absl::StatusOr<v1::Job> job = client.Submit(spec);
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->job_id());
  }

  // Both run at once; read each file once it holds two epochs' rows (the
  // job dir goes when the attempt ends, so the jobs are long and cancelled).
  std::map<std::string, std::string> files;  // job id -> the file's text
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (files.size() < ids.size() && absl::Now() < deadline) {
    for (const std::string& id : ids) {
      const std::string dir = AttemptDir(id);
      if (dir.empty() || files.count(id) != 0) continue;
      const std::string text = testing::ReadFileOrEmpty(dir + "/files/log.csv");
      if (CsvRows(text).size() >= 3) files[id] = text;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  // An epoch's row is written before its event is reported: the jobs run on
  // until the epochs of the rows read are reported.
  std::vector<std::map<int, double>> losses;  // per job, epoch -> reported loss
  for (const std::string& id : ids) {
    const size_t epochs = std::max<size_t>(CsvRows(files[id]).size(), 1) - 1;
    losses.push_back(ReportedLosses(client, id, epochs));
  }
  for (const std::string& id : ids) {
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_job_id(id);
    v1::Job cancelled;
    EXPECT_TRUE(client.jobs().CancelJob(&context, request, &cancelled).ok()) << id;
  }
  EXPECT_TRUE(std::filesystem::is_empty(worker_cwd))
      << std::filesystem::directory_iterator(worker_cwd)->path();
  ASSERT_EQ(files.size(), 2u) << "a job's JOBDIR/files/log.csv never held 2 epochs' rows";
  WaitForAllEnded(client, ids, absl::Seconds(60));

  for (size_t j = 0; j < ids.size(); ++j) {
    const std::string& id = ids[j];
    std::map<int, double>& loss = losses[j];
    const std::vector<std::vector<std::string>> rows = CsvRows(files[id]);
    ASSERT_GE(rows.size(), 3u);
    const auto column = std::find(rows[0].begin(), rows[0].end(), "loss");
    ASSERT_NE(column, rows[0].end()) << files[id];
    ASSERT_EQ(rows[0][0], "epoch") << files[id];
    for (size_t r = 1; r < rows.size(); ++r) {
      ASSERT_EQ(rows[r].size(), rows[0].size()) << files[id];
      const int epoch = std::stoi(rows[r][0]);
      EXPECT_EQ(epoch, static_cast<int>(r) - 1) << id << ":\n" << files[id];
      ASSERT_EQ(loss.count(epoch), 1u) << id << " reported no epoch " << epoch;
      EXPECT_DOUBLE_EQ(std::stod(rows[r][column - rows[0].begin()]), loss[epoch])
          << id << " epoch " << epoch << ":\n"
          << files[id];
    }
  }
  // Different seeds: had the rows been the other job's, they would differ.
  EXPECT_NE(losses[0].at(0), losses[1].at(0));
}

// A path that would leave the job's directory is refused at submit, naming
// the callback and the field, and no job is stored; `fornax submit` shows it.
TEST_F(JobFilesTest, SubmitRefusesPathsOutsideTheJobDir) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  ServiceClient client(address);
  const v1::JobSpec spec = Spec(JobOptions{}, address);
  const std::pair<std::string, std::string> refused[] = {
      {"[{CSVLogger: {filename: /tmp/fornax-log.csv}}]",
       Refusal("0] (CSVLogger", "filename", "/tmp/fornax-log.csv", "is absolute")},
      {"[{class_name: CSVLogger, config: {filename: ../log.csv}}]",
       Refusal("0] (CSVLogger", "filename", "../log.csv")},
      {"[TerminateOnNaN, {ModelCheckpoint: {filepath: 'ckpt/../../m-{epoch}.keras'}}]",
       Refusal("1] (ModelCheckpoint", "filepath", "ckpt/../../m-{epoch}.keras")},
  };
  for (const auto& [callbacks, message] : refused) {
    v1::JobSpec bad = spec;
    bad.set_job_yaml(WithCallbacks(spec.job_yaml(), callbacks));
    absl::StatusOr<v1::Job> job = client.Submit(bad);
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument) << callbacks;
    EXPECT_EQ(job.status().message(), "spec.job_yaml: job.yaml: " + message) << callbacks;
  }
  // An input is a link into the worker's dataset cache: one in files/ would
  // be a CSVLogger's to rewrite.
  v1::JobSpec linked = spec;
  linked.mutable_inputs(0)->set_path("files/log.csv");
  linked.set_job_yaml(
      absl::StrReplaceAll(spec.job_yaml(), {{spec.inputs(0).path(), "files/log.csv"}}));
  absl::StatusOr<v1::Job> job = client.Submit(linked);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(job.status().message()),
            "spec.inputs[0].path: expected inputs/<sha256>/<name> with the input's sha256, got "
            "'files/log.csv' (not three parts under inputs/)");

  JobOptions options;
  options.name = "cli-bad";
  const std::string job_file = WriteLocalJob(options);
  AddCallbacksToFile(job_file, "[{CSVLogger: {filename: ../../log.csv}}]");
  CliResult submit = RunCli(address, {"submit", job_file});
  EXPECT_EQ(submit.exit_code, 2) << submit.out << submit.err;
  EXPECT_THAT(submit.err, HasSubstr("fornax: error: spec.job_yaml: job.yaml: " +
                                    Refusal("0] (CSVLogger", "filename", "../../log.csv") + "\n"));

  v1::ListJobsResponse listed;
  grpc::ClientContext context;
  ASSERT_TRUE(client.jobs().ListJobs(&context, v1::ListJobsRequest(), &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 0) << listed.ShortDebugString();
}

// A callback the job process could not build (it would fail every attempt,
// after max_restarts retries) is refused at submit too, naming the entry.
TEST_F(JobFilesTest, SubmitRefusesCallbacksThatDoNotBuild) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  ServiceClient client(coordinator->grpc_address());
  const v1::JobSpec spec = Spec(JobOptions{}, coordinator->grpc_address());
  const std::pair<std::string, std::string> refused[] = {
      {"[{NoSuchCallback: {}}]",
       "fit.callbacks[0]: callback: unknown class 'NoSuchCallback'; expected one of "
       "EarlyStopping, ReduceLROnPlateau, TerminateOnNaN, CSVLogger"},
      {"[TerminateOnNaN, {CSVLogger: {separator: ';'}}]",
       "fit.callbacks[1]: callback 'CSVLogger': field \"filename\" is required"},
      {"[{ModelCheckpoint: {filepath: m.h5}}]",
       "fit.callbacks[0]: callback 'ModelCheckpoint': filepath must end in .keras (a full-model "
       "archive), received: 'm.h5'"},
  };
  for (const auto& [callbacks, message] : refused) {
    v1::JobSpec bad = spec;
    bad.set_job_yaml(WithCallbacks(spec.job_yaml(), callbacks));
    absl::StatusOr<v1::Job> job = client.Submit(bad);
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument) << callbacks;
    EXPECT_EQ(job.status().message(), "spec.job_yaml: job.yaml: " + message) << callbacks;
  }
}

// The job process itself (`fornax-worker run-job`, as the worker starts it,
// here by hand with a relative --dir) writes a relative filename in
// JOBDIR/files and fails a job whose path leaves it before it trains (a job
// the coordinator stored before it checked).
TEST_F(JobFilesTest, JobProcessWritesInItsFilesDirAndRefusesOthers) {
  JobOptions options;
  options.name = "by-hand";
  options.epochs = 2;
  AddCallbacksToFile(WriteLocalJob(options), "[{CSVLogger: {filename: log.csv}}]");
  const std::string run = absl::StrCat("cd '", dir_, "' && timeout -s KILL 180 '",
                                       FORNAX_WORKER_BIN, "' run-job --dir ");
  ASSERT_EQ(Shell(run + "by-hand >run.out 2>run.err"), 0)
      << testing::ReadFileOrEmpty(Path("run.err"));
  const std::vector<std::vector<std::string>> rows =
      CsvRows(testing::ReadFileOrEmpty(Path("by-hand/files/log.csv")));
  EXPECT_EQ(rows.size(), 3u) << testing::ReadFileOrEmpty(Path("by-hand/files/log.csv"));
  EXPECT_EQ(rows.empty() ? "" : rows.back()[0], "1");
  EXPECT_FALSE(std::filesystem::exists(Path("log.csv")));

  options.name = "escapes";
  const std::string outside = Path("outside.csv");
  AddCallbacksToFile(WriteLocalJob(options), "[{CSVLogger: {filename: '" + outside + "'}}]");
  EXPECT_EQ(Shell(run + "escapes >run.out 2>run.err"), 2);
  EXPECT_THAT(testing::ReadFileOrEmpty(Path("run.err")),
              HasSubstr("escapes/job.yaml: " +
                        Refusal("0] (CSVLogger", "filename", outside, "is absolute")));
  EXPECT_FALSE(std::filesystem::exists(outside));
}

// `fornax train` (no service) is unchanged: relative paths from the user's
// working directory, '..' and absolute paths allowed.
TEST_F(JobFilesTest, LocalTrainWritesWhereThePathsSay) {
  JobOptions options;
  options.name = "local";
  options.epochs = 2;
  const std::string job_file = WriteLocalJob(options);
  const std::string absolute = Path("abs.csv");
  AddCallbacksToFile(job_file,
                     "[{CSVLogger: {filename: log.csv}}, {CSVLogger: {filename: "
                     "../up.csv}}, {CSVLogger: {filename: '" +
                         absolute + "'}}]");
  const std::string cwd = Path("cwd");
  std::filesystem::create_directories(cwd);
  ASSERT_EQ(Shell(absl::StrCat("cd '", cwd, "' && timeout -s KILL 180 '", FORNAX_BIN, "' train '",
                               job_file, "' >'", Path("train.out"), "' 2>&1")),
            0)
      << testing::ReadFileOrEmpty(Path("train.out"));
  for (const std::string& file : {cwd + "/log.csv", Path("up.csv"), absolute}) {
    EXPECT_EQ(CsvRows(testing::ReadFileOrEmpty(file)).size(), 3u) << file;
  }
}

}  // namespace
}  // namespace fornax::service_testing
