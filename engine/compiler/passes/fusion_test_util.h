// Test helpers for the fusion passes: run a graph on the CPU backend with
// the fusion passes off, and count ops.
#ifndef FORNAX_ENGINE_COMPILER_PASSES_FUSION_TEST_UTIL_H_
#define FORNAX_ENGINE_COMPILER_PASSES_FUSION_TEST_UTIL_H_

#include <random>
#include <vector>

#include "engine/compiler/compile.h"
#include "engine/ir/graph.h"
#include "engine/ir/verifier.h"
#include "gtest/gtest.h"

namespace fornax::testing {

inline Tensor RandomTensor(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(shape.NumElements()));
  for (float& x : v) x = dist(rng);
  return Tensor::FromFloats(shape, v);
}

inline int CountOp(const Graph& g, Op op) {
  int n = 0;
  for (const Node& node : g.nodes()) n += node.op == op;
  return n;
}

// Runs `graph` as is (our passes disabled so the graph is what the test
// built), returning the outputs followed by the updated variables (run on
// copies, so the caller's tensors are untouched).
inline std::vector<Tensor> RunGraph(const Graph& graph, const std::vector<Tensor>& inputs,
                                    const std::vector<Tensor>& initial_variables,
                                    int64_t max_batch) {
  std::vector<Tensor> variables;
  for (const Tensor& v : initial_variables) variables.push_back(v.Clone());
  EXPECT_TRUE(VerifyGraph(graph).ok()) << VerifyGraph(graph) << "\n" << graph.ToString();
  CompileOptions options;
  options.max_batch = max_batch;
  options.disabled_passes = {"cse", "fusion", "epilogue_fusion"};
  auto exe = Compile(graph, options);
  EXPECT_TRUE(exe.ok()) << exe.status();
  std::vector<Tensor> outputs;
  EXPECT_TRUE((*exe)->Run(inputs, variables, RunOptions{}, &outputs).ok());
  for (Tensor& v : variables) outputs.push_back(v);  // updated in place
  return outputs;
}

inline void ExpectAllNear(const std::vector<Tensor>& got, const std::vector<Tensor>& want,
                          double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
    for (int64_t e = 0; e < got[i].num_elements(); ++e) {
      ASSERT_NEAR(got[i].GetAsDouble(e), want[i].GetAsDouble(e), tol)
          << "output " << i << " element " << e;
    }
  }
}

}  // namespace fornax::testing

#endif  // FORNAX_ENGINE_COMPILER_PASSES_FUSION_TEST_UTIL_H_
