#include "client/cli_util.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace fornax {

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kDataLoss:
      return kExitBadInput;
    default:
      return kExitInternal;
  }
}

int ReportError(const absl::Status& status) {
  const int code = ExitCodeFor(status);
  std::cerr << (code == kExitBadInput ? "fornax: error: " : "fornax: internal error: ")
            << status.message() << std::endl;
  return code;
}

absl::StatusOr<ParsedArgs> ParseArgs(const std::string& command,
                                     const std::vector<std::string>& args,
                                     const std::vector<std::string>& value_flags,
                                     const std::vector<std::string>& switch_flags) {
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!absl::StartsWith(arg, "--") || arg == "--") {
      out.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (contains(switch_flags, name) && !value) {
      out.switches[name] = true;
    } else if (contains(value_flags, name)) {
      if (!value) {
        if (i + 1 >= args.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat(command, ": flag --", name, " expects a value"));
        }
        value = args[++i];
      }
      out.values[name] = *value;
      out.all_values[name].push_back(*value);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(command, ": unknown flag '", arg, "' (see 'fornax ", command, " --help')"));
    }
  }
  return out;
}

}  // namespace fornax
