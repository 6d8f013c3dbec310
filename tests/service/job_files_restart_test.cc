// A service job's files outlive the coordinator process: they are rows in
// state.db (job_files) and bytes in the artifact store, so after a kill -9
// and a restart on the same data dir `fornax files` lists the same files and
// `fornax pull --file` gives the same bytes. A dataset uploaded from those
// bytes and deleted again leaves them (one stored copy, still in use).
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/service/job_files_util.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ServiceTest, JobFilesSurviveACoordinatorRestart) {
  const int port = FreePort();
  std::unique_ptr<Daemon> coordinator = StartCoordinator(port);
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);
  ServiceClient client(address);
  JobOptions options;
  options.name = "csv";
  v1::JobSpec spec = Spec(options, address);
  spec.set_job_yaml(WithCallbacks(spec.job_yaml(), "[{CSVLogger: {filename: log.csv}}]"));
  absl::StatusOr<v1::Job> job = client.Submit(spec);
  ASSERT_TRUE(job.ok()) << job.status();
  absl::StatusOr<v1::Job> ended = WaitForJob(client, job->job_id(), Ended, absl::Seconds(120));
  ASSERT_TRUE(ended.ok()) << ended.status();
  ASSERT_EQ(ended->state(), v1::JOB_STATE_SUCCEEDED) << ended->reason();

  const CliResult listed = RunCli(address, {"files", job->job_id()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  ASSERT_THAT(listed.out, HasSubstr("log.csv ")) << listed.out;
  const std::string before_path = Path("before/log.csv");
  const CliResult before =
      RunCli(address, {"pull", job->job_id(), "--file", "log.csv", "-o", before_path});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  const std::string bytes = testing::ReadFileOrEmpty(before_path);
  // Header and one row per epoch.
  EXPECT_EQ(CsvRows(bytes).size(), static_cast<size_t>(options.epochs) + 1) << bytes;

  // The same bytes as a dataset, deleted again: the job's file keeps them.
  const CliResult uploaded = RunCli(address, {"datasets", "upload", before_path});
  ASSERT_EQ(uploaded.exit_code, 0) << uploaded.err;
  const std::string sha256 = uploaded.out.substr(0, 64);
  const CliResult removed = RunCli(address, {"datasets", "rm", sha256});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_THAT(removed.out, HasSubstr("deleted " + sha256));

  coordinator->Kill();
  coordinator = StartCoordinator(port);
  ASSERT_NE(coordinator, nullptr);
  ASSERT_EQ(coordinator->grpc_address(), address);
  const CliResult relisted = RunCli(address, {"files", job->job_id()});
  ASSERT_EQ(relisted.exit_code, 0) << relisted.err;
  EXPECT_EQ(relisted.out, listed.out);
  const std::string after_path = Path("after/log.csv");
  const CliResult after =
      RunCli(address, {"pull", job->job_id(), "--file", "log.csv", "-o", after_path});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(testing::ReadFileOrEmpty(after_path), bytes);
}

}  // namespace
}  // namespace fornax::service_testing
