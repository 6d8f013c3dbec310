// Shared pieces of the `fornax` subcommands: the exit-code contract, error
// printing and a small flag parser.
//
// Exit codes: 0 success; 2 bad input (anything the user's files or flags
// caused: InvalidArgument, NotFound, OutOfRange, Unimplemented,
// PermissionDenied, DataLoss), with one "fornax: error: ..." line on stderr;
// 1 for internal errors.
#ifndef FORNAX_CLIENT_CLI_UTIL_H_
#define FORNAX_CLIENT_CLI_UTIL_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fornax {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;
inline constexpr int kExitBadInput = 2;

int ExitCodeFor(const absl::Status& status);
// Prints the status as "fornax: error: MESSAGE" (bad input) or
// "fornax: internal error: MESSAGE" and returns its exit code.
int ReportError(const absl::Status& status);

// Parsed command line of one subcommand: positional arguments and --flags.
struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // --name VALUE / --name=VALUE (the last)
  // Every value of each flag given, in order (for flags that may repeat).
  std::map<std::string, std::vector<std::string>> all_values;
  std::map<std::string, bool> switches;  // --name
};

// `value_flags` take a value, `switch_flags` do not; anything else starting
// with "--" is an InvalidArgument naming the command and the flag.
absl::StatusOr<ParsedArgs> ParseArgs(const std::string& command,
                                     const std::vector<std::string>& args,
                                     const std::vector<std::string>& value_flags,
                                     const std::vector<std::string>& switch_flags);

}  // namespace fornax

#endif  // FORNAX_CLIENT_CLI_UTIL_H_
