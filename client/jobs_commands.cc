// `fornax jobs`, `fornax get JOB`, `fornax cancel JOB`, `fornax workers`:
// the coordinator's view of jobs and workers.
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/commands.h"
#include "client/event_renderer.h"
#include "client/service_cli.h"
#include "client/service_client.h"
#include "engine/base/status_macros.h"

namespace fornax {

const char kJobsHelp[] = R"(usage: fornax [--coordinator ADDR] jobs [--state S[,S...]] [--all]

Lists jobs, newest first: id, name, state, priority, attempt, progress,
worker and the reason for the state ("waiting: needs 1 gpu, 0 free").

  --state S   only jobs in these states: queued, running, succeeded, failed,
              cancelled (comma-separated)
  --all       every page (default: the newest 50)
)";

const char kGetHelp[] = R"(usage: fornax [--coordinator ADDR] get JOB

Shows one job: state and reason, attempt and restarts, worker, times,
progress and last epoch metrics; for a failed attempt its root cause (exit
code or signal, where in training, the last log lines).
)";

const char kCancelHelp[] = R"(usage: fornax [--coordinator ADDR] cancel JOB

Cancels a job: a queued one never runs, a running one is stopped by its
worker (within 2 s). Prints the job's state afterwards.
)";

const char kWorkersHelp[] = R"(usage: fornax [--coordinator ADDR] workers

Lists the workers the coordinator knows: whether each is up, its capacity
and what is free, the jobs it runs, the deployments it serves (`fornax
deploy`) and where, and its last heartbeat.
)";

namespace {

constexpr int kPageSize = 50;
constexpr size_t kReasonChars = 60;  // `fornax get` shows all of it

absl::StatusOr<std::vector<v1::JobState>> ParseStates(const std::string& text) {
  // "queued,running" -> {QUEUED, RUNNING}
  std::vector<v1::JobState> states;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const std::string name = absl::StrCat("JOB_STATE_", absl::AsciiStrToUpper(part));
    v1::JobState state;
    if (!v1::JobState_Parse(name, &state) || state == v1::JOB_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          absl::StrCat("jobs: --state: unknown state '", part,
                       "'; expected queued, running, succeeded, failed or cancelled"));
    }
    states.push_back(state);
  }
  return states;
}

std::string Progress(const v1::Job& job) {
  if (job.epoch() == 0 && job.global_step() == 0) return "-";
  return absl::StrCat(job.epoch(), "/", EpochsOfJobYaml(job.spec().job_yaml()), " epochs");
}

absl::Status ListJobs(ServiceClient& client, const ServiceArgs& args) {
  v1::ListJobsRequest request;
  request.set_page_size(kPageSize);
  if (auto it = args.parsed.values.find("state"); it != args.parsed.values.end()) {
    FORNAX_ASSIGN_OR_RETURN(std::vector<v1::JobState> states, ParseStates(it->second));
    for (v1::JobState s : states) request.add_states(s);
  }
  const bool all = args.parsed.switches.count("all") > 0;
  std::vector<std::vector<std::string>> rows;
  v1::ListJobsResponse response;
  do {
    grpc::ClientContext context;
    ServiceClient::SetDeadline(&context);
    request.set_page_token(response.next_page_token());
    FORNAX_RETURN_IF_ERROR(client.Check(client.jobs().ListJobs(&context, request, &response)));
    for (const v1::Job& job : response.jobs()) {
      rows.push_back({job.job_id(), job.spec().name(), JobStateName(job.state()),
                      absl::StrCat(job.spec().priority()), absl::StrCat(job.attempt()),
                      Progress(job), job.worker_id().empty() ? "-" : job.worker_id(),
                      FormatTime(job.submit_time()), Abbreviate(job.reason(), kReasonChars)});
    }
  } while (all && !response.next_page_token().empty());
  PrintTable(
      std::cout,
      {"JOB", "NAME", "STATE", "PRIORITY", "ATTEMPT", "PROGRESS", "WORKER", "SUBMITTED", "REASON"},
      rows);
  if (!response.next_page_token().empty()) {
    std::cerr << "(newest " << rows.size() << " shown; --all lists every page)\n";
  }
  return absl::OkStatus();
}

void PrintJob(const v1::Job& job) {
  const v1::JobSpec& spec = job.spec();
  auto field = [](const std::string& name, const std::string& value) {
    std::cout << name << ":" << std::string(name.size() < 13 ? 13 - name.size() : 1, ' ') << value
              << "\n";
  };
  field("job", job.job_id());
  field("name", spec.name());
  field("state", JobStateName(job.state()));
  if (!job.reason().empty()) field("reason", job.reason());
  field("priority", absl::StrCat(spec.priority()));
  field("attempt", absl::StrCat(job.attempt(), " (restarts ", job.restarts(), " of ",
                                spec.max_restarts(), ")"));
  field("worker", job.worker_id().empty() ? "-" : job.worker_id());
  field("owner", spec.owner().empty() ? "-" : spec.owner());
  const v1::Resources& needs = spec.resources();
  field("needs", needs.cpus() == 0 && needs.gpus() == 0 && needs.memory_bytes() == 0
                     ? std::string("any worker")
                     : absl::StrCat(needs.cpus(), " cpus, ", needs.gpus(), " gpus, ",
                                    HumanBytes(needs.memory_bytes())));
  field("submitted", FormatTime(job.submit_time()));
  field("started", FormatTime(job.start_time()));
  field("ended", FormatTime(job.end_time()));
  field("progress", absl::StrCat(job.epoch(), "/", EpochsOfJobYaml(spec.job_yaml()),
                                 " epochs, step ", job.global_step()));
  if (!job.last_metrics().values().empty()) field("metrics", FormatMetrics(job.last_metrics()));
  int64_t input_bytes = 0;
  for (const v1::InputFile& input : spec.inputs()) input_bytes += input.size_bytes();
  field("inputs", absl::StrCat(spec.inputs_size(), " files, ", HumanBytes(input_bytes)));
  field("events", absl::StrCat(job.last_sequence()));
  if (!job.final_checkpoint_id().empty()) field("final model", job.final_checkpoint_id());
  if (job.has_failure()) {
    const v1::Failure& failure = job.failure();
    field("failure", FormatFailureCause(failure, EpochsOfJobYaml(spec.job_yaml())));
    if (!failure.message().empty()) field("error", failure.message());
    if (!failure.last_log_lines().empty()) {
      std::cout << "last log lines:\n";
      for (const std::string& line : failure.last_log_lines()) std::cout << "  " << line << "\n";
    }
  }
  std::cout << std::flush;
}

absl::Status ListWorkers(ServiceClient& client) {
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::ListWorkersResponse response;
  FORNAX_RETURN_IF_ERROR(
      client.Check(client.workers().ListWorkers(&context, v1::ListWorkersRequest(), &response)));
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  std::vector<std::vector<std::string>> rows;
  auto resources = [](const v1::Resources& r) {
    return absl::StrCat(r.slots(), " slot", r.slots() == 1 ? "" : "s", ", ", r.cpus(), " cpu, ",
                        r.gpus(), " gpu, ", HumanBytes(r.memory_bytes()));
  };
  for (const v1::WorkerInfo& w : response.workers()) {
    std::vector<std::string> running;
    for (const v1::RunningJob& job : w.running()) running.push_back(job.job_id());
    rows.push_back({w.worker_id(), w.hostname(), w.up() ? "up" : "down",
                    absl::StrJoin(w.devices(), ","), resources(w.capacity()), resources(w.free()),
                    running.empty() ? "-" : absl::StrJoin(running, ","),
                    w.deployments().empty() ? "-" : absl::StrJoin(w.deployments(), ","),
                    w.inference_address().empty() ? "-" : w.inference_address(),
                    w.last_heartbeat_unix_ms() > 0
                        ? absl::StrCat((now_ms - w.last_heartbeat_unix_ms()) / 1000, "s ago")
                        : "-"});
  }
  PrintTable(std::cout,
             {"WORKER", "HOST", "STATUS", "DEVICES", "CAPACITY", "FREE", "JOBS", "MODELS",
              "INFERENCE", "HEARTBEAT"},
             rows);
  return absl::OkStatus();
}

}  // namespace

int RunJobs(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand(
      {"jobs", kJobsHelp, {"state"}, {"all"}, 0, "fornax jobs [--state S] [--all]"}, coordinator,
      args, ListJobs);
}

int RunGet(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand({"get", kGetHelp, {}, {}, 1, "fornax get JOB"}, coordinator, args,
                           [](ServiceClient& client, const ServiceArgs& a) -> absl::Status {
                             FORNAX_ASSIGN_OR_RETURN(v1::Job job,
                                                     client.GetJob(a.parsed.positional[0]));
                             PrintJob(job);
                             return absl::OkStatus();
                           });
}

int RunCancel(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand(
      {"cancel", kCancelHelp, {}, {}, 1, "fornax cancel JOB"}, coordinator, args,
      [](ServiceClient& client, const ServiceArgs& a) -> absl::Status {
        grpc::ClientContext context;
        ServiceClient::SetDeadline(&context);
        v1::CancelJobRequest request;
        request.set_job_id(a.parsed.positional[0]);
        request.set_reason("by fornax cancel");
        v1::Job job;
        FORNAX_RETURN_IF_ERROR(client.Check(client.jobs().CancelJob(&context, request, &job)));
        std::cout << job.job_id() << ": " << DescribeState(job.state(), job.reason()) << std::endl;
        return absl::OkStatus();
      });
}

int RunWorkers(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand(
      {"workers", kWorkersHelp, {}, {}, 0, "fornax workers"}, coordinator, args,
      [](ServiceClient& client, const ServiceArgs&) { return ListWorkers(client); });
}

}  // namespace fornax
