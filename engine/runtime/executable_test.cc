#include "engine/runtime/executable.h"

#include <vector>

#include "engine/backends/reference/reference_test_util.h"
#include "engine/compiler/compile.h"
#include "engine/ir/builder.h"
#include "engine/runtime/philox.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::fornax::testing::Floats;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<Executable> MustCompile(const Graph& graph, int64_t max_batch,
                                        const std::string& backend = "reference") {
  CompileOptions options;
  options.backend = backend;
  options.max_batch = max_batch;
  options.verify = true;
  auto exe = Compile(graph, options);
  EXPECT_TRUE(exe.ok()) << exe.status();
  return exe.ok() ? std::move(exe).value() : nullptr;
}

// y = relu(x @ w + b); loss = mean(y); w := w - 0.5 (an "update").
struct DenseGraph {
  Graph graph;
  DenseGraph() {
    Builder b(&graph);
    const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 2}, "x");
    const ValueId w = b.Variable(0, DType::kFloat32, Shape{2, 2}, "w");
    const ValueId bias = b.Variable(1, DType::kFloat32, Shape{2}, "b");
    const ValueId y = b.Relu(b.Add(b.MatMul(x, w), bias));
    const ValueId loss = b.MeanAll(y);
    b.Assign(0, b.Sub(w, b.Scalar(0.5)));
    graph.set_outputs({y, loss});
    EXPECT_TRUE(b.ok()) << b.status();
  }
};

std::vector<Tensor> DenseVariables() {
  return {Tensor::FromFloats(Shape{2, 2}, std::vector<float>{1, -1, 2, 1}),
          Tensor::FromFloats(Shape{2}, std::vector<float>{0.5f, -10})};
}

TEST(ExecutableTest, RunsAGraphAndUpdatesVariablesInPlace) {
  DenseGraph g;
  auto exe = MustCompile(g.graph, 4);
  ASSERT_NE(exe, nullptr);
  std::vector<Tensor> variables = DenseVariables();
  const Tensor x = Tensor::FromFloats(Shape{3, 2}, std::vector<float>{1, 2, 0, 0, -1, 1});
  std::vector<Tensor> outputs;
  ASSERT_TRUE(exe->Run({&x, 1}, variables, {}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 2u);
  // x @ w = [[5, 1], [0, 0], [1, 2]]; + b = [[5.5, -9], [0.5, -10], [1.5, -8]].
  EXPECT_THAT(Floats(outputs[0]), ElementsAre(5.5f, 0, 0.5f, 0, 1.5f, 0));
  EXPECT_EQ(outputs[0].shape(), (Shape{3, 2}));
  EXPECT_FLOAT_EQ(Floats(outputs[1])[0], 7.5f / 6);
  EXPECT_THAT(Floats(variables[0]), ElementsAre(0.5f, -1.5f, 1.5f, 0.5f));
  EXPECT_THAT(Floats(variables[1]), ElementsAre(0.5f, -10));
}

TEST(ExecutableTest, SmallerBatchesRunOnTheSamePlan) {
  DenseGraph g;
  auto exe = MustCompile(g.graph, 8);
  ASSERT_NE(exe, nullptr);
  for (int64_t batch : {8, 3, 1, 8, 5}) {
    std::vector<Tensor> variables = DenseVariables();
    Tensor x(DType::kFloat32, Shape{batch, 2});
    for (int64_t i = 0; i < batch * 2; ++i) x.data<float>()[i] = static_cast<float>(i % 3);
    std::vector<Tensor> outputs;
    ASSERT_TRUE(exe->Run({&x, 1}, variables, {}, &outputs).ok()) << batch;
    ASSERT_EQ(outputs[0].shape(), (Shape{batch, 2}));
    for (int64_t r = 0; r < batch; ++r) {
      const float x0 = x.data<float>()[2 * r], x1 = x.data<float>()[2 * r + 1];
      EXPECT_FLOAT_EQ(outputs[0].data<float>()[2 * r], std::max(x0 + 2 * x1 + 0.5f, 0.0f));
      EXPECT_FLOAT_EQ(outputs[0].data<float>()[2 * r + 1], std::max(-x0 + x1 - 10, 0.0f));
    }
  }
}

TEST(ExecutableTest, BatchAboveCapacityIsAnError) {
  DenseGraph g;
  auto exe = MustCompile(g.graph, 4);
  ASSERT_NE(exe, nullptr);
  std::vector<Tensor> variables = DenseVariables();
  const Tensor x(DType::kFloat32, Shape{5, 2});
  std::vector<Tensor> outputs;
  const absl::Status s = exe->Run({&x, 1}, variables, {}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("batch 5 exceeds the plan's capacity 4"));
}

TEST(ExecutableTest, WrongInputDtypeOrShapeNamesTheInput) {
  DenseGraph g;
  auto exe = MustCompile(g.graph, 4);
  ASSERT_NE(exe, nullptr);
  std::vector<Tensor> variables = DenseVariables();
  std::vector<Tensor> outputs;
  const Tensor ints(DType::kInt32, Shape{2, 2});
  absl::Status s = exe->Run({&ints, 1}, variables, {}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input 0 ('x'): expected float32(None, 2), got int32(2, 2)"));
  const Tensor wide(DType::kFloat32, Shape{2, 3});
  s = exe->Run({&wide, 1}, variables, {}, &outputs);
  EXPECT_THAT(s.message(), HasSubstr("expected float32(None, 2), got float32(2, 3)"));
  s = exe->Run({}, variables, {}, &outputs);
  EXPECT_THAT(s.message(), HasSubstr("expected 1 inputs, got 0"));
  std::vector<Tensor> bad_variables = {Tensor(DType::kFloat32, Shape{2, 2})};
  s = exe->Run({&wide, 1}, bad_variables, {}, &outputs);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(ExecutableTest, RandomUniformIsKeyedBySeedStepAndStream) {
  Graph graph;
  Builder b(&graph);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 3});
  const ValueId r0 = b.RandomUniform(Shape{kBatch, 3}, 0);
  const ValueId r1 = b.RandomUniform(Shape{kBatch, 3}, 1);
  graph.set_outputs({b.Add(x, r0), r1});
  ASSERT_TRUE(b.ok()) << b.status();
  auto exe = MustCompile(graph, 4);
  ASSERT_NE(exe, nullptr);
  const Tensor x4(DType::kFloat32, Shape{4, 3});
  auto run = [&](uint64_t seed, int64_t step) {
    std::vector<Tensor> out;
    EXPECT_TRUE(exe->Run({&x4, 1}, {}, RunOptions{seed, step}, &out).ok());
    return out;
  };
  const std::vector<Tensor> a = run(7, 3);
  std::vector<float> expected(12);
  FillUniform(7, 3, 0, 0, 12, expected.data());
  EXPECT_EQ(Floats(a[0]), expected);
  FillUniform(7, 3, 1, 0, 12, expected.data());
  EXPECT_EQ(Floats(a[1]), expected);
  EXPECT_TRUE(run(7, 3)[0].BitwiseEquals(a[0]));
  EXPECT_FALSE(run(7, 4)[0].BitwiseEquals(a[0]));
  EXPECT_FALSE(run(8, 3)[0].BitwiseEquals(a[0]));
}

TEST(ExecutableTest, PlanStringListsOpsAndArena) {
  DenseGraph g;
  auto exe = MustCompile(g.graph, 4);
  ASSERT_NE(exe, nullptr);
  const std::string plan = exe->PlanString();
  EXPECT_THAT(plan, HasSubstr("matmul(%0, %1)"));
  EXPECT_THAT(plan, HasSubstr("arena: "));
  EXPECT_THAT(plan, HasSubstr("backend: reference"));
}

TEST(ExecutableTest, ReshapeOfAnInputIsAnAliasThatFollowsEachRun) {
  Graph graph;
  Builder b(&graph);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 2, 2});
  const ValueId flat = b.Reshape(x, Shape{kBatch, 4});
  graph.set_outputs({b.Mul(flat, b.Scalar(2.0))});
  ASSERT_TRUE(b.ok()) << b.status();
  auto exe = MustCompile(graph, 3);
  ASSERT_NE(exe, nullptr);
  EXPECT_EQ(exe->plan().slots[static_cast<size_t>(flat)].home, MemoryPlan::Home::kAlias);
  for (float base : {1.0f, 10.0f}) {
    const Tensor in =
        Tensor::FromFloats(Shape{1, 2, 2}, std::vector<float>{base, base + 1, base + 2, base + 3});
    std::vector<Tensor> out;
    ASSERT_TRUE(exe->Run({&in, 1}, {}, {}, &out).ok());
    EXPECT_THAT(Floats(out[0]), ElementsAre(2 * base, 2 * base + 2, 2 * base + 4, 2 * base + 6));
  }
}

}  // namespace
}  // namespace fornax
