// `fornax deploy JOB --name NAME`, `fornax deployments`, `fornax undeploy
// NAME`: serving a job's model on a worker (fornax.v1.Deployments).
#include <chrono>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/commands.h"
#include "client/service_cli.h"
#include "client/service_client.h"
#include "engine/base/status_macros.h"

namespace fornax {

const char kDeployHelp[] =
    R"(usage: fornax [--coordinator ADDR] deploy JOB --name NAME [--checkpoint ID]
                                     [--no-wait] [--timeout SECONDS]

Serves a job's model: the coordinator places the job's final checkpoint on a
worker that hosts models (fornax-worker with an inference address), which
serves it over the Open Inference Protocol as model NAME. Deploying again
under the same name makes the next version, swapped in on the same worker.
Waits until the deployment is READY and prints where it is served; if the
worker is lost, the coordinator moves the deployment to another one.

  --name NAME        the served model's name: letters, digits, '_', '.' and
                     '-', starting with a letter or digit, at most 64 chars
  --checkpoint ID    serve this checkpoint of the job (fornax checkpoints JOB)
                     instead of its final one
  --no-wait          return once the coordinator accepted the deployment
  --timeout SECONDS  how long to wait for READY (default 120)

Then: fornax predict --model NAME --input X.npy --output Y.npy
)";

const char kDeploymentsHelp[] = R"(usage: fornax [--coordinator ADDR] deployments

Lists the deployments: name, version, state, the worker it is placed on and
its Open Inference Protocol endpoint, the replica that answers now, the job
it came from, its age and why it is PENDING or FAILED.

SERVING is WORKER/vVERSION@ENDPOINT: while a redeploy or a move loads, the
previous replica keeps answering there (call that endpoint with that
model_version, e.g. from tritonclient); "-" while no replica is READY.
)";

const char kUndeployHelp[] = R"(usage: fornax [--coordinator ADDR] undeploy NAME

Stops serving NAME: its worker unloads it and the coordinator forgets it.
)";

namespace {

std::string DeploymentStateName(v1::DeploymentState state) {
  const std::string name = v1::DeploymentState_Name(state);
  const std::string prefix = "DEPLOYMENT_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

// Why `d` has no READY replica: "is LOADING on worker w2", ...
std::string WhyNotServing(const v1::Deployment& d) {
  switch (d.state()) {
    case v1::DEPLOYMENT_STATE_LOADING:
      return absl::StrCat("is LOADING on worker ", d.worker_id());
    case v1::DEPLOYMENT_STATE_FAILED:
      return absl::StrCat("FAILED on worker ", d.worker_id(), ": ", d.reason());
    default:
      return absl::StrCat("is ", DeploymentStateName(d.state()), ": ", d.reason());
  }
}

// SERVING column: "w1/v2@127.0.0.1:8001", "-" when no replica is READY.
std::string ServingCell(const v1::Deployment& d) {
  if (!d.has_serving()) return "-";
  return absl::StrCat(d.serving().worker_id(), "/v", d.serving().version(), "@",
                      d.serving().endpoint());
}

std::string Describe(const v1::Deployment& d) {
  std::string text = absl::StrCat("deployment ", d.name(), " version ", d.version(), " ",
                                  DeploymentStateName(d.state()));
  if (!d.worker_id().empty()) absl::StrAppend(&text, " on worker ", d.worker_id());
  if (d.state() == v1::DEPLOYMENT_STATE_READY) absl::StrAppend(&text, " at ", d.endpoint());
  if (!d.reason().empty() && d.state() != v1::DEPLOYMENT_STATE_READY) {
    absl::StrAppend(&text, ": ", d.reason());
  }
  return text;
}

// Polls the deployment until its `version` is READY, FAILED or `timeout`.
absl::Status WaitUntilReady(ServiceClient& client, v1::Deployment d, int64_t timeout_s) {
  const int64_t version = d.version();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::string last = Describe(d);
  std::cerr << last << std::endl;
  while (d.state() != v1::DEPLOYMENT_STATE_READY) {
    if (d.state() == v1::DEPLOYMENT_STATE_FAILED) return absl::AbortedError(last);
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("not READY after ", timeout_s, " s (--timeout): ", last));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    FORNAX_ASSIGN_OR_RETURN(d, client.GetDeployment(d.name()));
    if (d.version() != version) {
      return absl::AbortedError(absl::StrCat("deployment ", d.name(), " was redeployed meanwhile (",
                                             "now version ", d.version(), ")"));
    }
    if (Describe(d) != last) {
      last = Describe(d);
      // Progress only: the final state is the result (stdout) or the error.
      if (d.state() == v1::DEPLOYMENT_STATE_PENDING || d.state() == v1::DEPLOYMENT_STATE_LOADING) {
        std::cerr << last << std::endl;
      }
    }
  }
  std::cout << last << std::endl;
  return absl::OkStatus();
}

absl::Status Deploy(ServiceClient& client, const ServiceArgs& args) {
  const auto& values = args.parsed.values;
  auto name = values.find("name");
  if (name == values.end()) {
    return absl::InvalidArgumentError(
        "deploy: --name is required (usage: fornax deploy JOB --name NAME)");
  }
  FORNAX_ASSIGN_OR_RETURN(int64_t timeout_s, IntFlag(args, "timeout", 120, 1, 86400));
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::DeployRequest request;
  request.set_job_id(args.parsed.positional[0]);
  request.set_name(name->second);
  if (auto it = values.find("checkpoint"); it != values.end()) {
    request.set_checkpoint_id(it->second);
  }
  v1::Deployment d;
  FORNAX_RETURN_IF_ERROR(client.Check(client.deployments().Deploy(&context, request, &d)));
  if (args.parsed.switches.count("no-wait")) {
    std::cout << Describe(d) << std::endl;
    return absl::OkStatus();
  }
  return WaitUntilReady(client, d, timeout_s);
}

// "42s", "5m", "3h", "2d".
std::string Age(const google::protobuf::Timestamp& since) {
  const int64_t s = absl::ToUnixSeconds(absl::Now()) - since.seconds();
  if (since.seconds() == 0) return "-";
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 7200) return absl::StrCat(s / 60, "m");
  if (s < 172800) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

absl::Status ListDeployments(ServiceClient& client) {
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::ListDeploymentsResponse response;
  FORNAX_RETURN_IF_ERROR(client.Check(
      client.deployments().ListDeployments(&context, v1::ListDeploymentsRequest(), &response)));
  std::vector<std::vector<std::string>> rows;
  for (const v1::Deployment& d : response.deployments()) {
    rows.push_back({d.name(), absl::StrCat(d.version()), DeploymentStateName(d.state()),
                    d.worker_id().empty() ? "-" : d.worker_id(),
                    d.endpoint().empty() ? "-" : d.endpoint(), ServingCell(d), d.job_id(),
                    Age(d.create_time()), d.reason().empty() ? "-" : Abbreviate(d.reason(), 60)});
  }
  PrintTable(std::cout,
             {"NAME", "VERSION", "STATE", "WORKER", "ENDPOINT", "SERVING", "JOB", "AGE", "REASON"},
             rows);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServingTarget> FindServingTarget(const std::string& coordinator,
                                                const std::string& name, absl::Time deadline,
                                                const std::string& last_failure) {
  ServiceClient client(CoordinatorAddress(coordinator));
  bool said_unavailable = false;
  for (;;) {
    absl::StatusOr<v1::Deployment> d = client.GetDeployment(name);
    if (absl::IsNotFound(d.status())) {
      return absl::NotFoundError(absl::StrCat(
          "predict: --model ", name, ": no such file, and coordinator ", client.address(),
          " has no deployment '", name, "' (fornax deployments lists them)"));
    }
    if (!d.ok()) {
      const std::string error =
          absl::StrCat("predict: --model ", name, ": no such file; asking for deployment '", name,
                       "': ", d.status().message());
      // A coordinator restarting, or out of reach for a moment, is waited for
      // as a replica that is not READY yet is; once, the wait is said, with
      // the error that ends it, so a mistyped file name shows at once.
      if (!absl::IsUnavailable(d.status()) || absl::Now() >= deadline) {
        return absl::Status(d.status().code(), error);
      }
      if (!said_unavailable) {
        std::cerr << error << "; asking again until --wait-timeout" << std::endl;
        said_unavailable = true;
      }
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    if (d->has_serving()) return ServingTarget{d->serving().endpoint(), d->serving().version()};
    // A FAILED load stays so until the next deploy: nothing to wait for.
    if (d->state() == v1::DEPLOYMENT_STATE_FAILED) {
      return absl::FailedPreconditionError(
          absl::StrCat("deployment '", name, "' ", WhyNotServing(*d)));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("deployment '", name, "' has no READY replica after --wait-timeout: it ",
                       WhyNotServing(*d),
                       last_failure.empty() ? "" : absl::StrCat("; last try: ", last_failure)));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

int RunDeploy(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand({"deploy",
                            kDeployHelp,
                            {"name", "checkpoint", "timeout"},
                            {"no-wait"},
                            1,
                            "fornax deploy JOB --name NAME"},
                           coordinator, args, Deploy);
}

int RunDeployments(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand(
      {"deployments", kDeploymentsHelp, {}, {}, 0, "fornax deployments"}, coordinator, args,
      [](ServiceClient& client, const ServiceArgs&) { return ListDeployments(client); });
}

int RunUndeploy(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand(
      {"undeploy", kUndeployHelp, {}, {}, 1, "fornax undeploy NAME"}, coordinator, args,
      [](ServiceClient& client, const ServiceArgs& a) -> absl::Status {
        grpc::ClientContext context;
        ServiceClient::SetDeadline(&context);
        v1::UndeployRequest request;
        request.set_name(a.parsed.positional[0]);
        v1::Deployment d;
        FORNAX_RETURN_IF_ERROR(client.Check(client.deployments().Undeploy(&context, request, &d)));
        std::cout << "deployment " << d.name() << " undeployed (was version " << d.version()
                  << (d.worker_id().empty() ? "" : absl::StrCat(" on worker ", d.worker_id()))
                  << ")" << std::endl;
        return absl::OkStatus();
      });
}

}  // namespace fornax
