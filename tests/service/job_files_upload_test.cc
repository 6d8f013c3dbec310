// The files a service job wrote in JOBDIR/files come back: the worker
// uploads them when the attempt's process ends by itself, before its result;
// `fornax files JOB` lists them and `fornax pull JOB --file PATH` gives their
// bytes. They are no checkpoints: the job's checkpoints (resume, deploy, the
// default pull) are the ones the job process reported, as before.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/job_files_util.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::HasSubstr;

class JobFilesUploadTest : public ServiceTest {
 protected:
  // Submits `spec` and, while its attempt 0 runs on worker w1, hard-links
  // JOBDIR/files/`file` to `link` as soon as it exists: the CSVLogger
  // writes that inode in place, so the link keeps the worker's file as the
  // job left it after the job dir is gone. Returns the job once it ended.
  // The file exists only while the attempt runs: about 100 ms for the
  // harness's default 3-epoch job, which a stalled test process on a
  // loaded machine can miss whole, so the callers run JobOptions::Long(10)
  // (a second or more).
  v1::Job RunAndKeep(ServiceClient& client, const v1::JobSpec& spec, const std::string& file,
                     const std::string& link) {
    absl::StatusOr<v1::Job> job = client.Submit(spec);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return {};
    const std::string worker_file =
        Path(absl::StrCat("worker-w1/jobs/", job->job_id(), "-0/files/", file));
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    std::error_code ec;
    while (absl::Now() < deadline && !std::filesystem::exists(link)) {
      std::filesystem::create_hard_link(worker_file, link, ec);
      absl::StatusOr<v1::Job> now = client.Get(job->job_id());
      if (now.ok() && Ended(*now)) break;
      absl::SleepFor(absl::Milliseconds(2));
    }
    absl::StatusOr<v1::Job> ended = WaitForJob(client, job->job_id(), Ended, absl::Seconds(120));
    EXPECT_TRUE(ended.ok()) << ended.status();
    return ended.ok() ? *ended : v1::Job();
  }
};

// A job with a CSVLogger and a ModelCheckpoint succeeds; `fornax files`
// lists both files, `fornax pull --file log.csv` gives the worker's bytes,
// whose rows are the epoch losses the job reported; a path the job did not
// write is a NOT_FOUND naming it and the files there are; the checkpoints
// and the default `fornax pull` are the job's own.
TEST_F(JobFilesUploadTest, CsvLoggerFileIsListedAndPulled) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);
  ServiceClient client(address);
  JobOptions options = JobOptions::Long(10);  // see RunAndKeep
  options.name = "csv";
  v1::JobSpec spec = Spec(options, address);
  spec.set_job_yaml(WithCallbacks(
      spec.job_yaml(),
      "[{CSVLogger: {filename: log.csv}}, {ModelCheckpoint: {filepath: best.keras}}]"));
  const v1::Job job = RunAndKeep(client, spec, "log.csv", Path("worker-log.csv"));
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.reason();
  const std::string on_worker = testing::ReadFileOrEmpty(Path("worker-log.csv"));
  ASSERT_FALSE(on_worker.empty()) << "never saw the worker's JOBDIR/files/log.csv";

  const CliResult files = RunCli(address, {"files", job.job_id()});
  ASSERT_EQ(files.exit_code, 0) << files.err;
  const std::vector<std::string> lines = absl::StrSplit(files.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << files.out;
  EXPECT_THAT(lines[0], HasSubstr("PATH")) << files.out;
  EXPECT_THAT(lines[1], ::testing::StartsWith("best.keras ")) << files.out;
  EXPECT_THAT(lines[2], ::testing::StartsWith("log.csv ")) << files.out;
  EXPECT_THAT(lines[2], HasSubstr(absl::StrCat(on_worker.size(), " B"))) << files.out;

  const std::string pulled_path = Path("pulled/log.csv");
  const CliResult pull =
      RunCli(address, {"pull", job.job_id(), "--file", "log.csv", "-o", pulled_path});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_THAT(pull.out, HasSubstr("file log.csv (attempt 0)")) << pull.out;
  const std::string pulled = testing::ReadFileOrEmpty(pulled_path);
  EXPECT_EQ(pulled, on_worker);

  // Its rows are the losses the job reported, epoch by epoch.
  std::vector<v1::JobEvent> events;
  ASSERT_TRUE(client.Watch(job.job_id(), 0, false, &events).ok());
  std::map<int, double> loss;
  for (const v1::JobEvent& e : events) {
    if (e.has_epoch()) loss[e.epoch().epoch()] = e.epoch().metrics().values().at("loss");
  }
  const std::vector<std::vector<std::string>> rows = CsvRows(pulled);
  ASSERT_EQ(rows.size(), static_cast<size_t>(options.epochs) + 1) << pulled;
  ASSERT_EQ(loss.size(), static_cast<size_t>(options.epochs));
  const auto column = std::find(rows[0].begin(), rows[0].end(), "loss");
  ASSERT_NE(column, rows[0].end()) << pulled;
  for (size_t r = 1; r < rows.size(); ++r) {
    const int epoch = std::stoi(rows[r][0]);
    EXPECT_EQ(epoch, static_cast<int>(r) - 1) << pulled;
    EXPECT_DOUBLE_EQ(std::stod(rows[r][column - rows[0].begin()]), loss[epoch]) << pulled;
  }

  // A path it did not write: NOT_FOUND (exit 2) naming it and what is there.
  const CliResult missing =
      RunCli(address, {"pull", job.job_id(), "--file", "nope.csv", "-o", Path("nope.csv")});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr(absl::StrCat("job ", job.job_id(),
                                                  " has no file 'nope.csv'; its files: "
                                                  "best.keras, log.csv")));
  EXPECT_FALSE(std::filesystem::exists(Path("nope.csv")));

  // The checkpoints are the job process's: one per epoch and the final
  // model, which `fornax pull` (and a deploy) takes; best.keras is none.
  grpc::ClientContext context;
  v1::ListCheckpointsRequest request;
  request.set_job_id(job.job_id());
  v1::ListCheckpointsResponse checkpoints;
  ASSERT_TRUE(client.jobs().ListCheckpoints(&context, request, &checkpoints).ok());
  ASSERT_EQ(checkpoints.checkpoints_size(), options.epochs + 1);
  EXPECT_EQ(job.final_checkpoint_id(), checkpoints.checkpoints(options.epochs).checkpoint_id());
  const CliResult model = RunCli(address, {"pull", job.job_id(), "-o", Path("model.keras")});
  ASSERT_EQ(model.exit_code, 0) << model.err;
  EXPECT_THAT(model.out,
              HasSubstr(absl::StrCat("checkpoint ", job.final_checkpoint_id(), " (final model)")));
  const CliResult both = RunCli(address, {"pull", job.job_id(), "--file", "log.csv", "--checkpoint",
                                          job.final_checkpoint_id()});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("--file and --checkpoint: give one of them"));
}

// The job's file at `path` as the coordinator has it (via `fornax pull
// --file`), with the attempt `fornax files` lists for it (-1: not listed).
struct PulledFile {
  int attempt = -1;
  std::string bytes;
};

// An attempt that fails (its process killed) uploads its files too, before
// its result; the resumed attempt's file of the same path replaces them.
TEST_F(JobFilesUploadTest, FailedAttemptsFilesAreReplacedByTheNextAttempts) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);
  ServiceClient client(address);
  // Long enough that it still runs when the test sees epoch 2 and kills
  // it (GetJob is polled every 100 ms, and the epochs the coordinator has
  // trail the job's by the checkpoint uploads queued before them), and that
  // attempt 1 still runs, its files not yet uploaded, when the test pulls
  // attempt 0's: with 10 epochs a loaded machine had 8 for each.
  JobOptions options = JobOptions::Long(30);
  options.name = "crash";
  v1::JobSpec spec = Spec(options, address);
  spec.set_job_yaml(WithCallbacks(spec.job_yaml(), "[{CSVLogger: {filename: log.csv}}]"));
  absl::StatusOr<v1::Job> job = client.Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string id = job->job_id();
  auto pull = [&](const std::string& output) {
    PulledFile file;
    const CliResult files = RunCli(address, {"files", id});
    EXPECT_EQ(files.exit_code, 0) << files.err;
    for (absl::string_view line : absl::StrSplit(files.out, '\n', absl::SkipEmpty())) {
      const std::vector<std::string> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (cells.size() == 5 && cells[0] == "log.csv") file.attempt = std::stoi(cells[3]);
    }
    const CliResult pulled = RunCli(address, {"pull", id, "--file", "log.csv", "-o", output});
    EXPECT_EQ(pulled.exit_code, 0) << pulled.err;
    file.bytes = testing::ReadFileOrEmpty(output);
    return file;
  };
  // Once the job ended: an epoch attempt 1 trained again reports the same
  // loss (a resume from an epoch checkpoint is bit-identical on the CPU).
  auto reported_losses = [&] {
    std::vector<v1::JobEvent> events;
    EXPECT_TRUE(client.Watch(id, 0, false, &events).ok());
    std::map<int, double> loss;
    for (const v1::JobEvent& e : events) {
      if (e.has_epoch()) loss[e.epoch().epoch()] = e.epoch().metrics().values().at("loss");
    }
    return loss;
  };
  auto expect_rows_match = [](const std::string& text, const std::map<int, double>& loss) {
    const std::vector<std::vector<std::string>> rows = CsvRows(text);
    ASSERT_GE(rows.size(), 3u) << text;
    const size_t column = std::find(rows[0].begin(), rows[0].end(), "loss") - rows[0].begin();
    ASSERT_LT(column, rows[0].size()) << text;
    for (size_t r = 1; r < rows.size(); ++r) {
      const int epoch = std::stoi(rows[r][0]);
      EXPECT_EQ(epoch, static_cast<int>(r) - 1) << text;
      ASSERT_EQ(loss.count(epoch), 1u) << "no epoch " << epoch << " reported:\n" << text;
      EXPECT_DOUBLE_EQ(std::stod(rows[r][column]), loss.at(epoch)) << text;
    }
  };

  absl::StatusOr<v1::Job> two_epochs = WaitForJob(
      client, id, [](const v1::Job& j) { return j.epoch() >= 2 || Ended(j); }, absl::Seconds(120));
  ASSERT_TRUE(two_epochs.ok()) << two_epochs.status();
  ASSERT_EQ(two_epochs->state(), v1::JOB_STATE_RUNNING) << two_epochs->ShortDebugString();
  const std::vector<pid_t> children = JobProcesses(*worker);
  ASSERT_EQ(children.size(), 1u);
  ASSERT_EQ(kill(children[0], SIGKILL), 0);
  // Its files came before its failure: once the job is on attempt 1 they
  // are there, from attempt 0, until attempt 1 ends.
  absl::StatusOr<v1::Job> retried = WaitForJob(
      client, id, [](const v1::Job& j) { return j.attempt() >= 1 || Ended(j); }, absl::Seconds(60));
  ASSERT_TRUE(retried.ok()) << retried.status();
  ASSERT_EQ(retried->attempt(), 1) << retried->ShortDebugString();
  const PulledFile first = pull(Path("first.csv"));
  EXPECT_EQ(first.attempt, 0);

  absl::StatusOr<v1::Job> done = WaitForJob(client, id, Ended, absl::Seconds(180));
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->state(), v1::JOB_STATE_SUCCEEDED) << done->ShortDebugString();
  const PulledFile last = pull(Path("last.csv"));
  EXPECT_EQ(last.attempt, 1);
  EXPECT_EQ(CsvRows(last.bytes).size(), static_cast<size_t>(options.epochs) + 1) << last.bytes;
  const std::map<int, double> loss = reported_losses();
  expect_rows_match(first.bytes, loss);
  expect_rows_match(last.bytes, loss);
}

// Over the worker's --max-job-files-bytes nothing is uploaded, and the job's
// log says why; the job itself still succeeds.
TEST_F(JobFilesUploadTest, FilesOverTheWorkersLimitAreRefusedInTheLog) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator, {"--max-job-files-bytes", "64"});
  ASSERT_NE(worker, nullptr);
  ServiceClient client(address);
  JobOptions options = JobOptions::Long(10);  // see RunAndKeep
  options.name = "big";
  v1::JobSpec spec = Spec(options, address);
  spec.set_job_yaml(WithCallbacks(spec.job_yaml(), "[{CSVLogger: {filename: log.csv}}]"));
  const v1::Job job = RunAndKeep(client, spec, "log.csv", Path("worker-log.csv"));
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.reason();
  const int64_t size = static_cast<int64_t>(std::filesystem::file_size(Path("worker-log.csv")));
  ASSERT_GT(size, 64);

  const CliResult files = RunCli(address, {"files", job.job_id()});
  ASSERT_EQ(files.exit_code, 0) << files.err;
  EXPECT_THAT(files.out, ::testing::Not(HasSubstr("log.csv"))) << files.out;
  const CliResult logs = RunCli(address, {"logs", job.job_id()});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr(absl::StrCat("files not uploaded: JOBDIR/files holds ", size,
                                               " bytes in 1 file, more than this worker's "
                                               "--max-job-files-bytes 64")))
      << logs.out;
}

// Over the worker's --max-job-files nothing is uploaded either, and the
// job's log gives the count and the flag; the job itself still succeeds.
TEST_F(JobFilesUploadTest, FilesOverTheWorkersCountAreRefusedInTheLog) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator, {"--max-job-files", "1"});
  ASSERT_NE(worker, nullptr);
  ServiceClient client(address);
  JobOptions options;
  options.name = "many";
  v1::JobSpec spec = Spec(options, address);
  spec.set_job_yaml(WithCallbacks(
      spec.job_yaml(),
      "[{CSVLogger: {filename: log.csv}}, {ModelCheckpoint: {filepath: best.keras}}]"));
  absl::StatusOr<v1::Job> submitted = client.Submit(spec);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  absl::StatusOr<v1::Job> job = WaitForJob(client, submitted->job_id(), Ended, absl::Seconds(120));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED) << job->reason();

  const CliResult files = RunCli(address, {"files", job->job_id()});
  ASSERT_EQ(files.exit_code, 0) << files.err;
  EXPECT_THAT(files.out, ::testing::Not(HasSubstr("log.csv"))) << files.out;
  EXPECT_THAT(files.out, ::testing::Not(HasSubstr("best.keras"))) << files.out;
  const CliResult logs = RunCli(address, {"logs", job->job_id()});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("files not uploaded: JOBDIR/files holds 2 files, more than "
                                  "this worker's --max-job-files 1"))
      << logs.out;
}

}  // namespace
}  // namespace fornax::service_testing
