#include "engine/compiler/compile.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/compiler/passes/memory_plan.h"
#include "engine/compiler/pipeline.h"
#include "engine/runtime/backend.h"

namespace fornax {

absl::StatusOr<std::unique_ptr<Executable>> Compile(const Graph& graph,
                                                    const CompileOptions& options) {
  if (options.max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("CompileOptions.max_batch must be >= 1, got ", options.max_batch));
  }
  FORNAX_ASSIGN_OR_RETURN(Backend * backend, GetBackend(options.backend));
  PipelineOptions pipeline_options;
  pipeline_options.disabled_passes = options.disabled_passes;
  pipeline_options.verify = options.verify;
  pipeline_options.dump_ir = options.dump_ir;
  Graph optimized = graph;
  FORNAX_RETURN_IF_ERROR(
      StandardPipeline(backend->caps(), std::move(pipeline_options)).Run(&optimized));
  MemoryPlan plan = PlanMemory(optimized, options.max_batch);
  FORNAX_ASSIGN_OR_RETURN(
      std::unique_ptr<Executable> executable,
      Executable::Create(std::move(optimized), std::move(plan), backend, options.max_batch));
  if (options.dump_ir) std::cerr << "// plan\n" << executable->PlanString();
  return executable;
}

}  // namespace fornax
