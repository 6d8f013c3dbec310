// `fornax serve`'s command line (serve_command.cc), parsed apart from
// running the server so that its checks can be tested.
#ifndef FORNAX_CLIENT_SERVE_COMMAND_H_
#define FORNAX_CLIENT_SERVE_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/inference/inference_server.h"

namespace fornax {

struct ServeFlags {
  bool help = false;  // --help: nothing else is checked
  serving::InferenceServerOptions options;
};

// InvalidArgument naming the flag and what it accepts for a bad value, an
// unknown flag, a missing --model-repository, or flags that do not go
// together (--load-model without --model-control-mode=explicit,
// --poll-interval-ms without poll).
absl::StatusOr<ServeFlags> ParseServeFlags(const std::vector<std::string>& args);

}  // namespace fornax

#endif  // FORNAX_CLIENT_SERVE_COMMAND_H_
