#include "worker/flags.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fornax::worker {

absl::StatusOr<Flags> Flags::Parse(const std::string& command, const std::vector<std::string>& args,
                                   const std::vector<std::string>& known) {
  Flags flags;
  flags.command_ = command;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(absl::StrCat(command, ": unexpected argument '", arg, "'"));
    }
    std::string name = arg.substr(2);
    std::string value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else if (std::find(known.begin(), known.end(), name) != known.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(command, ": flag --", name, " expects a value"));
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(command, ": unknown flag '--", name, "'"));
    }
    flags.values_[name] = value;
  }
  return flags;
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int64_t> Flags::GetInt(const std::string& name, int64_t fallback, int64_t min,
                                      int64_t max) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(command_, ": --", name,
                                                   ": expected an integer between ", min, " and ",
                                                   max, ", got '", it->second, "'"));
  }
  return value;
}

}  // namespace fornax::worker
