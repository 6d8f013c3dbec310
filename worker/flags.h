// Command-line flags of fornax-worker and its run-job subcommand:
// "--name value" or "--name=value", every flag takes a value.
// Thread-safety: free functions and a value type.
#ifndef FORNAX_WORKER_FLAGS_H_
#define FORNAX_WORKER_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fornax::worker {

class Flags {
 public:
  // InvalidArgument naming `command` and the flag for an unknown flag, a
  // missing value or a positional argument.
  static absl::StatusOr<Flags> Parse(const std::string& command,
                                     const std::vector<std::string>& args,
                                     const std::vector<std::string>& known);

  std::string Get(const std::string& name, const std::string& fallback = "") const;
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The flag as an integer in [min, max], or `fallback` when absent.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback, int64_t min,
                                 int64_t max) const;

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_FLAGS_H_
