// Test helper: compile a small graph on a backend and run it once, so loss,
// metric and optimizer tests can check the IR they emit against numbers
// computed by real Keras 3.15 (keras_expected values embedded in the tests).
#ifndef FORNAX_ENGINE_KERAS_LOSSES_GRAPH_TEST_UTIL_H_
#define FORNAX_ENGINE_KERAS_LOSSES_GRAPH_TEST_UTIL_H_

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/base/status_macros.h"
#include "engine/compiler/compile.h"
#include "engine/ir/builder.h"

namespace fornax::testing {

// Compiles `graph` for `backend` (batch up to 64) and runs it once.
inline absl::StatusOr<std::vector<Tensor>> CompileAndRun(const Graph& graph,
                                                         std::span<const Tensor> inputs,
                                                         std::span<Tensor> variables,
                                                         const std::string& backend) {
  CompileOptions options;
  options.backend = backend;
  options.max_batch = 64;
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Executable> plan, Compile(graph, options));
  std::vector<Tensor> outputs;
  FORNAX_RETURN_IF_ERROR(plan->Run(inputs, variables, RunOptions{}, &outputs));
  return outputs;
}

inline Tensor Floats(Shape shape, std::vector<float> values) {
  return Tensor::FromFloats(std::move(shape), values);
}

}  // namespace fornax::testing

#endif  // FORNAX_ENGINE_KERAS_LOSSES_GRAPH_TEST_UTIL_H_
