// Pipeline: runs compiler passes in order (XLA's HloPassPipeline).
//
// It skips passes disabled by name, verifies the graph before the first pass
// and after every pass when asked (a failure names the pass that broke it),
// and can dump the IR after each pass. StandardPipeline picks the passes a
// backend wants from its BackendCaps; the table of passes lives in
// pipeline.cc, one line per pass.
// Thread-safety: a Pipeline is used by one thread at a time.
#ifndef FORNAX_ENGINE_COMPILER_PIPELINE_H_
#define FORNAX_ENGINE_COMPILER_PIPELINE_H_

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/compiler/pass.h"
#include "engine/ir/graph.h"
#include "engine/runtime/backend.h"

namespace fornax {

struct PipelineOptions {
  std::vector<std::string> disabled_passes;  // names of passes to skip
  bool verify = false;                       // VerifyGraph before and after each pass
  bool dump_ir = false;                      // print the graph after each pass
  std::ostream* dump_to = nullptr;           // where dumps go; nullptr = stderr
};

class Pipeline {
 public:
  explicit Pipeline(PipelineOptions options) : options_(std::move(options)) {}

  void AddPass(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  // Names of the passes that will run (disabled ones left out), in order.
  std::vector<std::string> PassNames() const;
  // Runs the enabled passes in order. Internal error when verification
  // fails, naming the pass after which it failed.
  absl::Status Run(Graph* graph) const;

 private:
  bool Disabled(const Pass& pass) const;
  PipelineOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
};

// The standard pass order for a backend with `caps`.
Pipeline StandardPipeline(const BackendCaps& caps, PipelineOptions options);

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_PIPELINE_H_
