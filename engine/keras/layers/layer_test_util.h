// Helpers shared by the Keras layer and model tests: locating test data and
// running a graph on a backend.
#ifndef FORNAX_ENGINE_KERAS_LAYERS_LAYER_TEST_UTIL_H_
#define FORNAX_ENGINE_KERAS_LAYERS_LAYER_TEST_UTIL_H_

#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/compiler/compile.h"
#include "engine/data/test_files.h"
#include "engine/ir/graph.h"
#include "engine/tensor/tensor.h"
#include "nlohmann/json.hpp"

namespace fornax::testing {

// tests/testdata/keras/<relative> in the source tree.
inline std::string KerasTestData(const std::string& relative) {
  return SourceDir() + "/tests/testdata/keras/" + relative;
}

inline nlohmann::json LoadJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// The per-layer cases real Keras produced (tests/testdata/keras/generate.py),
// loaded once.
inline const nlohmann::json& LayerCases() {
  static const nlohmann::json* cases =
      new nlohmann::json(LoadJson(KerasTestData("layer_cases.json")));
  return *cases;
}

// A host tensor of `dtype` and `shape` holding `values` (converted).
inline Tensor MakeTensor(DType dtype, const Shape& shape, const nlohmann::json& values) {
  Tensor t(dtype, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    t.SetFromDouble(i, values[static_cast<size_t>(i)].get<double>());
  }
  return t;
}

// Compiles `graph` for `backend` and runs it once.
inline absl::StatusOr<std::vector<Tensor>> RunGraph(const Graph& graph, const std::string& backend,
                                                    int64_t batch, std::span<const Tensor> inputs,
                                                    std::span<Tensor> variables,
                                                    uint64_t seed = 0) {
  CompileOptions options;
  options.backend = backend;
  options.max_batch = batch;
  options.verify = true;
  absl::StatusOr<std::unique_ptr<Executable>> exe = Compile(graph, options);
  if (!exe.ok()) return exe.status();
  RunOptions run;
  run.seed = seed;
  std::vector<Tensor> outputs;
  absl::Status s = (*exe)->Run(inputs, variables, run, &outputs);
  if (!s.ok()) return s;
  return outputs;
}

}  // namespace fornax::testing

#endif  // FORNAX_ENGINE_KERAS_LAYERS_LAYER_TEST_UTIL_H_
