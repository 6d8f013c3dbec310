// Pieces shared by the `fornax` service commands: their flag parsing (every
// one takes --coordinator and --help), aligned tables and formatting of
// times, metrics and failures for people.
#ifndef FORNAX_CLIENT_SERVICE_CLI_H_
#define FORNAX_CLIENT_SERVICE_CLI_H_

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cli_util.h"
#include "client/service_client.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/fornax/v1/common.pb.h"

namespace fornax {

// ParseArgs plus "--coordinator ADDR" and "--help"; `short_flags` maps
// single-dash forms to long ones ({"-f", "--follow"}). `global_coordinator`
// is the value given before the command; the command's own flag wins.
struct ServiceArgs {
  std::string command;
  ParsedArgs parsed;
  std::string coordinator;  // resolved: flag, $FORNAX_COORDINATOR or the default
  bool help = false;
};
absl::StatusOr<ServiceArgs> ParseServiceArgs(
    const std::string& command, const std::vector<std::string>& args,
    const std::string& global_coordinator, std::vector<std::string> value_flags,
    std::vector<std::string> switch_flags,
    const std::map<std::string, std::string>& short_flags = {});

// A service command's shape, for RunServiceCommand.
struct ServiceCommand {
  std::string name;
  const char* help;
  std::vector<std::string> value_flags;
  std::vector<std::string> switch_flags;
  int positional;  // how many positional arguments; -1: the body checks
  std::string usage;
  std::map<std::string, std::string> short_flags = {};
};

// Parses the arguments (printing the help for --help), checks the positional
// count, connects and runs `body`; returns the exit code, errors reported
// with ReportError (bad flags) or ReportServiceError (the rest).
int RunServiceCommand(const ServiceCommand& command, const std::string& global_coordinator,
                      const std::vector<std::string>& args,
                      const std::function<absl::Status(ServiceClient&, const ServiceArgs&)>& body);

// InvalidArgument unless there are exactly `count` positional arguments.
absl::Status ExpectPositional(const ServiceArgs& args, size_t count, const std::string& usage);

// A flag's integer value (InvalidArgument naming the flag when it is not one
// within [min, max]); `fallback` when the flag is absent.
absl::StatusOr<int64_t> IntFlag(const ServiceArgs& args, const std::string& name, int64_t fallback,
                                int64_t min, int64_t max);

// Prints rows under a header, columns padded to their widest cell.
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// "1.2 MiB", "512 B": sizes for people.
std::string HumanBytes(int64_t bytes);
// "2026-11-22 06:50:01 UTC"; "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& time);
// "accuracy=0.8512 loss=0.4101" (names sorted, val_ ones last).
std::string FormatMetrics(const v1::Metrics& metrics);
// "killed by signal 9 (SIGKILL) during epoch 2/5, at optimizer step 700"
// (or "exit code 3 ...", or "stopped by the worker because ..." when the
// worker stopped it itself) for a job of `epochs` epochs.
std::string FormatFailureCause(const v1::Failure& failure, int epochs);
// `text`, cut to max_chars with "..." when longer (table cells).
std::string Abbreviate(const std::string& text, size_t max_chars);

}  // namespace fornax

#endif  // FORNAX_CLIENT_SERVICE_CLI_H_
