// `fornax submit JOB.yaml`: bundle the job (job_bundle.h), upload its files,
// submit it, print its id; with --follow, show its logs until it ends.
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/dataset_upload.h"
#include "client/job_bundle.h"
#include "client/job_logs.h"
#include "client/service_cli.h"
#include "engine/base/status_macros.h"

namespace fornax {

const char kSubmitHelp[] =
    R"(usage: fornax [--coordinator ADDR] submit JOB.yaml [--name N] [--priority P]
           [--max-restarts N] [--gpus N] [--cpus N] [--memory-bytes N]
           [--checkpoint-every-steps N] [--follow]

Submits a training job (the same job file `fornax train` takes) to the
coordinator and prints its id. The job is validated here first; every data
file it names (and a .keras model) is uploaded to the coordinator's dataset
store unless it is already there (content-addressed by sha256), and the
model JSON travels inside the request.

  --name N                    a name for people (default: the job file's folder)
  --priority P                higher runs first, FIFO within a priority (default 0)
  --max-restarts N            retries after a crash or a lost worker (default 2)
  --gpus N, --cpus N          what a worker must have free to run it
  --memory-bytes N
  --checkpoint-every-steps N  checkpoint every N steps too (default: every epoch)
  --follow                    then print its logs live, as `fornax logs -f`

The coordinator: --coordinator ADDR, else $FORNAX_COORDINATOR, else 127.0.0.1:7070.
)";

namespace {

std::string DefaultName(const std::string& job_path) {
  const std::filesystem::path path = std::filesystem::absolute(job_path).lexically_normal();
  const std::string stem = path.stem().string();
  // examples/fashion_mlp/job.yaml -> fashion_mlp
  if (stem == "job" && path.has_parent_path() && !path.parent_path().filename().empty()) {
    return path.parent_path().filename().string();
  }
  return stem;
}

absl::StatusOr<std::string> Submit(const ServiceArgs& args) {
  const std::string& job_path = args.parsed.positional[0];
  FORNAX_ASSIGN_OR_RETURN(int64_t priority, IntFlag(args, "priority", 0, -1000000, 1000000));
  FORNAX_ASSIGN_OR_RETURN(int64_t max_restarts, IntFlag(args, "max-restarts", 2, 0, 1000));
  FORNAX_ASSIGN_OR_RETURN(int64_t gpus, IntFlag(args, "gpus", 0, 0, 1024));
  FORNAX_ASSIGN_OR_RETURN(int64_t cpus, IntFlag(args, "cpus", 0, 0, 4096));
  FORNAX_ASSIGN_OR_RETURN(int64_t memory, IntFlag(args, "memory-bytes", 0, 0, int64_t{1} << 50));
  FORNAX_ASSIGN_OR_RETURN(int64_t every_steps,
                          IntFlag(args, "checkpoint-every-steps", 0, 0, int64_t{1} << 40));

  FORNAX_ASSIGN_OR_RETURN(JobBundle bundle, BundleJob(job_path));
  v1::JobSpec& spec = bundle.spec;
  auto name = args.parsed.values.find("name");
  spec.set_name(name != args.parsed.values.end() ? name->second : DefaultName(job_path));
  spec.set_priority(static_cast<int32_t>(priority));
  spec.set_max_restarts(static_cast<int32_t>(max_restarts));
  spec.mutable_resources()->set_gpus(static_cast<int32_t>(gpus));
  spec.mutable_resources()->set_cpus(static_cast<int32_t>(cpus));
  spec.mutable_resources()->set_memory_bytes(memory);
  spec.set_checkpoint_every_steps(every_steps);
  if (const char* user = std::getenv("USER"); user != nullptr) spec.set_owner(user);

  ServiceClient client(args.coordinator);
  FORNAX_RETURN_IF_ERROR(UploadMissing(client, bundle.files, std::cerr));
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::SubmitJobRequest request;
  *request.mutable_spec() = std::move(spec);
  v1::Job job;
  FORNAX_RETURN_IF_ERROR(client.Check(client.jobs().SubmitJob(&context, request, &job)));
  return job.job_id();
}

}  // namespace

int RunSubmit(const std::string& coordinator, const std::vector<std::string>& args) {
  absl::StatusOr<ServiceArgs> parsed =
      ParseServiceArgs("submit", args, coordinator,
                       {"name", "priority", "max-restarts", "gpus", "cpus", "memory-bytes",
                        "checkpoint-every-steps"},
                       {"follow"});
  if (!parsed.ok()) return ReportError(parsed.status());
  if (parsed->help) {
    std::cout << kSubmitHelp;
    return kExitOk;
  }
  absl::Status status = ExpectPositional(*parsed, 1, "fornax submit JOB.yaml [flags]");
  if (!status.ok()) return ReportError(status);
  absl::StatusOr<std::string> job_id = Submit(*parsed);
  if (!job_id.ok()) return ReportServiceError(job_id.status());
  std::cout << *job_id << std::endl;
  if (!parsed->parsed.switches.count("follow")) return kExitOk;
  // The submit itself failed fast (retrying it could submit twice); following
  // waits out a coordinator restart.
  ServiceClient client(parsed->coordinator);
  return ShowJobLogs(client, *job_id, /*follow=*/true);
}

}  // namespace fornax
