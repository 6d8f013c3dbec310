#include "engine/compiler/pipeline.h"

#include <sstream>

#include "engine/ir/builder.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Appends a node whose recorded shape is wrong: the verifier must catch it.
class BreakShapesPass final : public Pass {
 public:
  std::string_view name() const override { return "break_shapes"; }
  absl::StatusOr<bool> Run(Graph* graph) override {
    Node bad = graph->node(graph->outputs()[0]);
    bad.op = Op::kNeg;
    bad.inputs = {graph->outputs()[0]};
    bad.shape = Shape{7, 7, 7};
    graph->set_outputs({graph->Append(std::move(bad))});
    return true;
  }
};

class CountingPass final : public Pass {
 public:
  explicit CountingPass(int* runs) : runs_(runs) {}
  std::string_view name() const override { return "counting"; }
  absl::StatusOr<bool> Run(Graph*) override {
    ++*runs_;
    return false;
  }

 private:
  int* runs_;
};

Graph Tiny() {
  Graph g;
  Builder b(&g);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 2});
  b.Exp(x);  // dead
  g.set_outputs({b.Relu(x)});
  return g;
}

TEST(PipelineTest, StandardPipelineStartsWithDce) {
  const Pipeline p = StandardPipeline(BackendCaps{}, {});
  ASSERT_FALSE(p.PassNames().empty());
  EXPECT_EQ(p.PassNames()[0], "dce");
  Graph g = Tiny();
  ASSERT_TRUE(p.Run(&g).ok());
  EXPECT_EQ(g.size(), 2);
}

TEST(PipelineTest, DisabledPassesAreSkipped) {
  int runs = 0;
  PipelineOptions options;
  options.disabled_passes = {"counting"};
  Pipeline p(options);
  p.AddPass(std::make_unique<CountingPass>(&runs));
  EXPECT_TRUE(p.PassNames().empty());
  Graph g = Tiny();
  ASSERT_TRUE(p.Run(&g).ok());
  EXPECT_EQ(runs, 0);
  Pipeline enabled(PipelineOptions{});
  enabled.AddPass(std::make_unique<CountingPass>(&runs));
  ASSERT_TRUE(enabled.Run(&g).ok());
  EXPECT_EQ(runs, 1);
}

TEST(PipelineTest, VerifierNamesThePassThatBrokeTheGraph) {
  PipelineOptions options;
  options.verify = true;
  Pipeline p(options);
  p.AddPass(std::make_unique<BreakShapesPass>());
  Graph g = Tiny();
  const absl::Status s = p.Run(&g);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("after pass 'break_shapes'"));
}

TEST(PipelineTest, DumpsIrAfterEachPass) {
  std::ostringstream dump;
  PipelineOptions options;
  options.dump_ir = true;
  options.dump_to = &dump;
  Graph g = Tiny();
  ASSERT_TRUE(StandardPipeline(BackendCaps{}, options).Run(&g).ok());
  EXPECT_THAT(dump.str(), HasSubstr("// after dce"));
  EXPECT_THAT(dump.str(), HasSubstr("relu"));
}

}  // namespace
}  // namespace fornax
