// `fornax serve`: serves a repository of .keras models over the Open
// Inference Protocol (gRPC and HTTP/REST; tritonclient and perf_analyzer
// work) with Prometheus metrics, until SIGINT/SIGTERM.
#include <signal.h>

#include <iostream>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/commands.h"
#include "server/inference/inference_server.h"

namespace fornax {

const char kServeHelp[] =
    R"(usage: fornax serve --model-repository DIR [--port 8001] [--http-port 8000]
                    [--http-threads 64] [--metrics-port 8002]
                    [--poll-interval-ms 1000]

Serves every model in DIR over the Open Inference Protocol (KServe v2 gRPC
and HTTP/REST, as Triton: tritonclient works) on 127.0.0.1, with dynamic
batching. Layout:
DIR/<model>/<version>/model.keras, and optionally Triton's
DIR/<model>/config.pbtxt or its JSON form DIR/<model>/config.json
(max_batch_size, dynamic_batching, version_policy). By default the latest
version is served; dynamic batching is on unless config.json turns it off
or config.pbtxt has no dynamic_batching block (as in Triton).
New models and versions are picked up while serving (docs/serving.md).

  --model-repository DIR   the model repository
  --port N                 gRPC port (default 8001; 0: any free port)
  --http-port N            HTTP/REST port (default 8000; 0: any; -1: none)
  --http-threads N         HTTP connections served at once (default 64; while
                           all are taken, each reply closes its connection)
  --metrics-port N         Prometheus /metrics port (default 8002; 0: any)
  --poll-interval-ms N     how often DIR is rescanned (default 1000)

Prints "listening grpc=127.0.0.1:PORT metrics=127.0.0.1:PORT
http=127.0.0.1:PORT" (on one line; no http= with --http-port -1) once
serving.
SIGINT/SIGTERM stop it after the requests in flight.
)";

namespace {

absl::Status ParseIntFlag(const std::string& flag, const std::string& value, int minimum,
                          int maximum, int* out) {
  if (!absl::SimpleAtoi(value, out) || *out < minimum || *out > maximum) {
    return absl::InvalidArgumentError(absl::StrCat("serve: --", flag, ": expected an integer in ",
                                                   minimum, "..", maximum, ", got '", value, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(
      "serve", args,
      {"model-repository", "port", "http-port", "http-threads", "metrics-port", "poll-interval-ms"},
      {"help"});
  if (!parsed.ok()) return ReportError(parsed.status());
  if (parsed->switches.count("help")) {
    std::cout << kServeHelp;
    return kExitOk;
  }
  if (!parsed->positional.empty()) {
    return ReportError(absl::InvalidArgumentError(
        absl::StrCat("serve: unexpected argument '", parsed->positional[0], "'")));
  }
  if (!parsed->values.count("model-repository")) {
    return ReportError(absl::InvalidArgumentError(
        "serve: --model-repository is required (usage: fornax serve --model-repository DIR)"));
  }
  serving::InferenceServerOptions options;
  options.model_repository = parsed->values["model-repository"];
  options.server_version = FORNAX_VERSION;
  struct IntFlag {
    const char* name;
    int minimum;
    int maximum;
    int* out;
  };
  for (const IntFlag& flag :
       {IntFlag{"port", 0, 65535, &options.port},
        IntFlag{"http-port", -1, 65535, &options.http_port},
        IntFlag{"http-threads", 1, 4096, &options.http_threads},
        IntFlag{"metrics-port", 0, 65535, &options.metrics_port},
        IntFlag{"poll-interval-ms", 1, 86'400'000, &options.poll_interval_ms}}) {
    if (!parsed->values.count(flag.name)) continue;
    absl::Status status =
        ParseIntFlag(flag.name, parsed->values[flag.name], flag.minimum, flag.maximum, flag.out);
    if (!status.ok()) return ReportError(status);
  }
  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  absl::StatusOr<std::unique_ptr<serving::InferenceServer>> server =
      serving::InferenceServer::Start(options);
  if (!server.ok()) return ReportError(server.status());
  std::cout << "listening grpc=127.0.0.1:" << (*server)->grpc_port()
            << " metrics=127.0.0.1:" << (*server)->metrics_port();
  if (options.http_port >= 0) std::cout << " http=127.0.0.1:" << (*server)->http_port();
  std::cout << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::cerr << "fornax serve: signal " << signal << ", shutting down\n";
  (*server)->Shutdown();
  return kExitOk;
}

}  // namespace fornax
