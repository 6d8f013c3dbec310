// `fornax serve`: serves a repository of .keras models over the Open
// Inference Protocol (gRPC and HTTP/REST; tritonclient and perf_analyzer
// work) with Prometheus metrics, until SIGINT/SIGTERM.
#include "client/serve_command.h"

#include <arpa/inet.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/commands.h"

namespace fornax {

const char kServeHelp[] =
    R"(usage: fornax serve --model-repository DIR [--address 127.0.0.1] [--port 8001]
                    [--http-port 8000] [--http-threads 64] [--metrics-port 8002]
                    [--model-control-mode poll] [--poll-interval-ms 1000]
                    [--load-model NAME]...

Serves the models in DIR over the Open Inference Protocol (KServe v2 gRPC
and HTTP/REST, as Triton: tritonclient works), with dynamic batching.
Layout: DIR/<model>/<version>/model.keras, and optionally Triton's
DIR/<model>/config.pbtxt or its JSON form DIR/<model>/config.json
(max_batch_size, dynamic_batching, version_policy). By default the latest
version is served; dynamic batching is on unless config.json turns it off
or config.pbtxt has no dynamic_batching block (as in Triton).

  --model-repository DIR   the model repository
  --address HOST           the IPv4 address gRPC, HTTP and metrics listen on.
                           Default 127.0.0.1, this machine only: the
                           endpoints have no authentication, so serving
                           other machines is a choice to make (0.0.0.0 for
                           every interface; Triton's default is 0.0.0.0).
                           Shared-memory registration is refused to clients
                           that are not on loopback either way.
  --port N                 gRPC port (default 8001; 0: any free port)
  --http-port N            HTTP/REST port (default 8000; 0: any; -1: none)
  --http-threads N         HTTP connections served at once (default 64; while
                           all are taken, each reply closes its connection)
  --metrics-port N         Prometheus /metrics port (default 8002; 0: any)
  --model-control-mode M   Triton's model control modes (docs/serving.md):
                           none: every model loads at the start and then
                             nothing changes; load/unload requests are
                             refused (UNAVAILABLE), as in Triton.
                           poll (default): as none, and DIR is rescanned:
                             new models and versions load, removed ones go.
                             Load/unload requests work too (Triton refuses
                             them in poll); an unloaded model stays out.
                           explicit: only the --load-model models load at
                             the start, then load/unload requests (e.g.
                             tritonclient's load_model) load, reload and
                             unload; DIR is not rescanned.
                           Triton's default is none; Fornax's is poll, which
                           is how `fornax serve` behaved before the flag.
  --poll-interval-ms N     poll mode: how often DIR is rescanned (default 1000)
  --load-model NAME        explicit mode: a model to load at the start (may be
                           repeated; '*', alone: every model)

Prints "listening grpc=HOST:PORT metrics=HOST:PORT http=HOST:PORT" (one
line, HOST the --address; no http= with --http-port -1) once serving.
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

// An IPv4 address in dotted form, as the server binds to it. Host names
// are refused, so that the address printed is the one bound; IPv6 is
// refused because the HTTP and metrics servers (civetweb as Debian builds
// it) cannot listen on it.
absl::Status CheckAddress(const std::string& value) {
  in_addr v4;
  if (inet_pton(AF_INET, value.c_str(), &v4) == 1) return absl::OkStatus();
  in6_addr v6;
  const std::string bare =
      value.starts_with('[') && value.ends_with(']') ? value.substr(1, value.size() - 2) : value;
  const bool ipv6 = inet_pton(AF_INET6, bare.c_str(), &v6) == 1;
  return absl::InvalidArgumentError(absl::StrCat(
      "serve: --address: expected an IPv4 address (127.0.0.1: this machine only; 0.0.0.0: every "
      "interface), got '",
      value, "'", ipv6 ? " (IPv6 is not supported: the HTTP and metrics servers lack it)" : ""));
}

absl::StatusOr<serving::ModelControlMode> ParseModelControlMode(const std::string& value) {
  // Case-insensitive, as Triton reads it (EXPLICIT is seen in the wild).
  const std::string mode = absl::AsciiStrToLower(value);
  if (mode == "none") return serving::ModelControlMode::kNone;
  if (mode == "poll") return serving::ModelControlMode::kPoll;
  if (mode == "explicit") return serving::ModelControlMode::kExplicit;
  return absl::InvalidArgumentError(absl::StrCat(
      "serve: --model-control-mode: expected none, poll or explicit, got '", value, "'"));
}

// Checks --load-model's values: model names, or '*' alone.
absl::Status CheckLoadModels(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "serve: --load-model: expected a model name (a directory of the repository) or '*', "
          "got '",
          name, "'"));
    }
    if (name == "*" && names.size() > 1) {
      // Triton's rule: "*" is not a pattern, and only means every model alone.
      return absl::InvalidArgumentError(
          "serve: --load-model: '*' (every model) must be the only --load-model");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ServeFlags> ParseServeFlags(const std::vector<std::string>& args) {
  ServeFlags flags;
  serving::InferenceServerOptions& options = flags.options;
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs("serve", args,
                {"model-repository", "address", "port", "http-port", "http-threads", "metrics-port",
                 "model-control-mode", "poll-interval-ms", "load-model"},
                {"help"});
  if (!parsed.ok()) return parsed.status();
  if (parsed->switches.count("help")) {
    flags.help = true;
    return flags;
  }
  if (!parsed->positional.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("serve: unexpected argument '", parsed->positional[0], "'"));
  }
  if (!parsed->values.count("model-repository")) {
    return absl::InvalidArgumentError(
        "serve: --model-repository is required (usage: fornax serve --model-repository DIR)");
  }
  options.model_repository = parsed->values["model-repository"];
  options.server_version = FORNAX_VERSION;
  if (parsed->values.count("address")) {
    if (absl::Status status = CheckAddress(parsed->values["address"]); !status.ok()) return status;
    options.host = parsed->values["address"];
  }
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
    if (!status.ok()) return status;
  }
  if (parsed->values.count("model-control-mode")) {
    absl::StatusOr<serving::ModelControlMode> mode =
        ParseModelControlMode(parsed->values["model-control-mode"]);
    if (!mode.ok()) return mode.status();
    options.model_control_mode = *mode;
  }
  options.startup_models = parsed->all_values["load-model"];
  if (absl::Status status = CheckLoadModels(options.startup_models); !status.ok()) return status;
  // Flags a mode does not use are refused rather than ignored (Triton
  // ignores them), so that nobody believes they took effect.
  if (!options.startup_models.empty() &&
      options.model_control_mode != serving::ModelControlMode::kExplicit) {
    return absl::InvalidArgumentError(
        "serve: --load-model needs --model-control-mode=explicit (in none and poll modes every "
        "model loads at the start)");
  }
  if (parsed->values.count("poll-interval-ms") &&
      options.model_control_mode != serving::ModelControlMode::kPoll) {
    return absl::InvalidArgumentError(
        "serve: --poll-interval-ms needs --model-control-mode=poll (the only mode that rescans "
        "the repository)");
  }
  return flags;
}

int RunServe(const std::vector<std::string>& args) {
  absl::StatusOr<ServeFlags> flags = ParseServeFlags(args);
  if (!flags.ok()) return ReportError(flags.status());
  if (flags->help) {
    std::cout << kServeHelp;
    return kExitOk;
  }
  const serving::InferenceServerOptions& options = flags->options;
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
  const std::string& host = options.host;
  std::cout << "listening grpc=" << host << ":" << (*server)->grpc_port() << " metrics=" << host
            << ":" << (*server)->metrics_port();
  if (options.http_port >= 0) std::cout << " http=" << host << ":" << (*server)->http_port();
  std::cout << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  std::cerr << "fornax serve: signal " << signal << ", shutting down\n";
  (*server)->Shutdown();
  return kExitOk;
}

}  // namespace fornax
