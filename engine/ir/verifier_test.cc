#include "engine/ir/verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/autodiff/autodiff.h"
#include "engine/ir/builder.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

void ExpectInternal(const absl::Status& s, std::string_view substring) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(substring)));
}

TEST(VerifierTest, AcceptsBuiltGraphsWithGradientsAndUpdates) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 4});
  ValueId w = b.Variable(0, DType::kFloat32, Shape{4, 2});
  ValueId loss = b.MeanAll(b.Softmax(b.MatMul(x, w)));
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, loss, std::vector<ValueId>{w});
  ASSERT_TRUE(grads.ok()) << grads.status();
  b.Assign(0, b.Sub(w, b.Mul(b.Scalar(0.1), (*grads)[0])));
  g.AddOutput(loss);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(VerifyGraph(g).ok()) << VerifyGraph(g);
}

TEST(VerifierTest, RejectsStaleShape) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{2, 3});
  ValueId e = b.Exp(x);
  g.mutable_node(e).shape = Shape{3, 2};
  ExpectInternal(VerifyGraph(g),
                 "verifier: %1 (exp): node says float32(3, 2) but its shape rule "
                 "gives float32(2, 3)");
}

TEST(VerifierTest, RejectsForwardReferencesAndBadArity) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{2});
  ValueId e = b.Exp(x);
  g.mutable_node(e).inputs = {e};
  ExpectInternal(VerifyGraph(g), "%1 (exp): input %1 is not an earlier node");
  g.mutable_node(e).inputs = {x, x};
  ExpectInternal(VerifyGraph(g), "%1 (exp): expected 1 inputs, got 2");
}

TEST(VerifierTest, RejectsShapeRuleFailure) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{2, 3});
  ValueId y = b.Input(1, DType::kFloat32, Shape{3, 4});
  ValueId m = b.MatMul(x, y);
  g.mutable_node(m).attrs.transpose_a = true;
  ExpectInternal(VerifyGraph(g), "verifier: %2 (matmul): matmul: inner dimensions differ");
}

TEST(VerifierTest, ChecksAssignAgainstItsVariable) {
  Graph g;
  Builder b(&g);
  b.Variable(3, DType::kFloat32, Shape{2});
  b.Assign(3, b.Input(0, DType::kFloat32, Shape{5}));
  ExpectInternal(VerifyGraph(g), "assigns float32(5,) to variable #3 of type float32(2,)");
}

TEST(VerifierTest, RejectsReadingAVariableAfterItWasAssigned) {
  Graph g;
  Builder b(&g);
  ValueId v = b.Variable(0, DType::kFloat32, Shape{2});
  b.Assign(0, b.Add(v, b.Scalar(1)));
  EXPECT_TRUE(VerifyGraph(g).ok());
  b.Exp(v);  // reads the old value, but it has been overwritten
  ExpectInternal(VerifyGraph(g), "reads variable #0 (%0) after %3 assigned it");
}

TEST(VerifierTest, FusedNodesKeepTheirOwnShapes) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{2});
  Node fused;
  fused.op = Op::kFusedElementwise;
  fused.inputs = {x};
  fused.shape = Shape{2};
  g.Append(fused);
  EXPECT_TRUE(VerifyGraph(g).ok());
}

}  // namespace
}  // namespace fornax
