// The README's flow through the real `fornax` CLI against a coordinator and
// a worker: submit a job file (data uploaded, paths rewritten), follow it,
// list it, pull the final .keras and predict with it locally; and the CLI's
// bad-input contract for unknown ids (exit 2, one "fornax: error:" line).
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "engine/archive/keras_archive.h"
#include "gmock/gmock.h"
#include "tests/service/service_test_base.h"

namespace fornax::service_testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(ServiceTest, CliSubmitFollowPull) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  const std::string address = coordinator->grpc_address();
  std::unique_ptr<Daemon> worker = StartWorker("w1", *coordinator);
  ASSERT_NE(worker, nullptr);
  JobOptions options;
  options.name = "cli-job";
  options.epochs = 2;
  const std::string job_file = WriteLocalJob(options);

  CliResult submit = RunCli(address, {"submit", job_file, "--follow"});
  ASSERT_EQ(submit.exit_code, 0) << submit.out << submit.err;
  EXPECT_THAT(submit.out, HasSubstr("Epoch 2/2")) << submit.out;

  ServiceClient client(address);
  v1::ListJobsResponse listed;
  grpc::ClientContext ctx;
  ASSERT_TRUE(client.jobs().ListJobs(&ctx, v1::ListJobsRequest(), &listed).ok());
  ASSERT_EQ(listed.jobs_size(), 1);
  const v1::Job& job = listed.jobs(0);
  EXPECT_THAT(submit.out + submit.err, HasSubstr(job.job_id()));
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.ShortDebugString();
  // The data went up content-addressed and the YAML names it by digest.
  EXPECT_THAT(job.spec().job_yaml(), HasSubstr("inputs/"));
  EXPECT_EQ(job.spec().inputs_size(), 2);

  CliResult jobs = RunCli(address, {"jobs"});
  EXPECT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_THAT(jobs.out, HasSubstr(job.job_id()));

  const std::string pulled = Path("pulled.keras");
  CliResult pull = RunCli(address, {"pull", job.job_id(), "-o", pulled});
  ASSERT_EQ(pull.exit_code, 0) << pull.out << pull.err;
  absl::StatusOr<std::string> final_bytes = client.Download(job.job_id());
  ASSERT_TRUE(final_bytes.ok()) << final_bytes.status();
  EXPECT_EQ(std::filesystem::file_size(pulled), final_bytes->size());
  absl::StatusOr<KerasArchive> archive = ReadKerasArchive(pulled);
  EXPECT_TRUE(archive.ok()) << archive.status();
}

TEST_F(ServiceTest, CliUnknownJobIsBadInput) {
  std::unique_ptr<Daemon> coordinator = StartCoordinator();
  ASSERT_NE(coordinator, nullptr);
  for (const char* command : {"get", "logs", "cancel", "checkpoints"}) {
    CliResult r = RunCli(coordinator->grpc_address(), {command, "no-such-job"});
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.out << r.err;
    EXPECT_THAT(r.err, StartsWith("fornax: error: ")) << command;
    EXPECT_THAT(r.err, HasSubstr("no-such-job")) << command;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << command << ": " << r.err;
  }
}

}  // namespace
}  // namespace fornax::service_testing
