// Compile: graph in, runnable Executable out.
//
// Runs the pass pipeline (engine/compiler/pipeline.h) for the chosen backend,
// plans memory for `max_batch`, and binds kernels. Passes can be disabled by
// name (for tests and for bisecting a miscompile), the graph is verified
// between passes when `verify` is set, and `dump_ir` prints it after each.
#ifndef FORNAX_ENGINE_COMPILER_COMPILE_H_
#define FORNAX_ENGINE_COMPILER_COMPILE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ir/graph.h"
#include "engine/runtime/executable.h"

namespace fornax {

struct CompileOptions {
  std::string backend = "cpu";
  int64_t max_batch = 1;
  std::vector<std::string> disabled_passes;  // e.g. {"fusion", "cse"}
  bool verify = false;
  bool dump_ir = false;
};

absl::StatusOr<std::unique_ptr<Executable>> Compile(const Graph& graph,
                                                    const CompileOptions& options);

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_COMPILE_H_
