#include "engine/compiler/pipeline.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/compiler/passes/cse.h"
#include "engine/compiler/passes/dce.h"
#include "engine/compiler/passes/epilogue_fusion.h"
#include "engine/compiler/passes/fusion.h"
#include "engine/ir/verifier.h"

namespace fornax {
namespace {

absl::Status Verify(const Graph& graph, std::string_view after) {
  absl::Status status = VerifyGraph(graph);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("IR verification failed ", std::string(after), ": ", status.message()));
  }
  return absl::OkStatus();
}

// One row per pass, in pipeline order: when the backend wants it, and how to
// make it. To add a pass, add its row here.
struct PassEntry {
  bool (*wanted)(const BackendCaps& caps);
  std::unique_ptr<Pass> (*make)();
};

template <typename P>
std::unique_ptr<Pass> Make() {
  return std::make_unique<P>();
}

bool Always(const BackendCaps&) { return true; }
bool FusesEpilogues(const BackendCaps& caps) { return caps.fused_matmul || caps.fused_conv2d; }
bool FusesElementwise(const BackendCaps& caps) { return caps.fused_elementwise; }

constexpr PassEntry kStandardPasses[] = {
    {Always, Make<DcePass>},
    {Always, Make<CsePass>},
    // Before elementwise fusion, which would otherwise swallow bias adds and activations.
    {FusesEpilogues, Make<EpilogueFusionPass>},
    {FusesElementwise, Make<FusionPass>},
    {Always, Make<DcePass>},  // drops scalar constants folded into fused programs
};

}  // namespace

bool Pipeline::Disabled(const Pass& pass) const {
  return std::find(options_.disabled_passes.begin(), options_.disabled_passes.end(),
                   std::string(pass.name())) != options_.disabled_passes.end();
}

std::vector<std::string> Pipeline::PassNames() const {
  std::vector<std::string> names;
  for (const auto& pass : passes_) {
    if (!Disabled(*pass)) names.emplace_back(pass->name());
  }
  return names;
}

absl::Status Pipeline::Run(Graph* graph) const {
  std::ostream& dump = options_.dump_to != nullptr ? *options_.dump_to : std::cerr;
  if (options_.verify) FORNAX_RETURN_IF_ERROR(Verify(*graph, "before the first pass"));
  for (const auto& pass : passes_) {
    if (Disabled(*pass)) continue;
    const absl::StatusOr<bool> changed = pass->Run(graph);
    if (!changed.ok()) {
      return absl::Status(changed.status().code(), absl::StrCat("pass '", std::string(pass->name()),
                                                                "': ", changed.status().message()));
    }
    if (options_.verify) {
      FORNAX_RETURN_IF_ERROR(
          Verify(*graph, absl::StrCat("after pass '", std::string(pass->name()), "'")));
    }
    if (options_.dump_ir) {
      dump << "// after " << pass->name() << (*changed ? "" : " (unchanged)") << "\n"
           << graph->ToString() << "\n";
    }
  }
  return absl::OkStatus();
}

Pipeline StandardPipeline(const BackendCaps& caps, PipelineOptions options) {
  Pipeline pipeline(std::move(options));
  for (const PassEntry& entry : kStandardPasses) {
    if (entry.wanted(caps)) pipeline.AddPass(entry.make());
  }
  return pipeline;
}

}  // namespace fornax
