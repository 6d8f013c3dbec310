// Reference data-movement and leaf kernels, fused kernels, and the check that
// every op in ops.def has a reference kernel.
#include "engine/backends/reference/reference_test_util.h"
#include "engine/ir/fused_program.h"
#include "engine/runtime/philox.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::fornax::testing::Floats;
using ::fornax::testing::Ints;
using ::fornax::testing::RunReference;
using ::fornax::testing::Typed;
using ::testing::ElementsAre;

Tensor F(Shape shape, std::vector<float> v) { return Tensor::FromFloats(std::move(shape), v); }

TEST(ReferenceKernelTableTest, EveryOpHasAReferenceKernel) {
  for (int i = 0; i < kNumOps; ++i) {
    const Op op = static_cast<Op>(i);
    // The executor binds these two to the caller's tensors.
    if (op == Op::kInput || op == Op::kVariable) continue;
    EXPECT_NE(ReferenceKernel(op), nullptr) << "no reference kernel for " << OpName(op);
  }
}

TEST(ReferenceShapeTest, TransposeAndBroadcastTo) {
  const Tensor x = F(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  Attrs perm;
  perm.axes = {1, 0};
  const Tensor t = *RunReference(Op::kTranspose, {x}, perm);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_THAT(Floats(t), ElementsAre(1, 4, 2, 5, 3, 6));
  const Tensor cube = F(Shape{2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Attrs perm3;
  perm3.axes = {2, 0, 1};
  EXPECT_THAT(Floats(*RunReference(Op::kTranspose, {cube}, perm3)), ElementsAre(1, 4, 2, 5, 3, 6));
  Attrs to;
  to.shape = Shape{2, 3};
  EXPECT_THAT(Floats(*RunReference(Op::kBroadcastTo, {F(Shape{3}, {7, 8, 9})}, to)),
              ElementsAre(7, 8, 9, 7, 8, 9));
}

TEST(ReferenceShapeTest, ReshapeConcatSlice) {
  Attrs shape;
  shape.shape = Shape{3, 2};
  EXPECT_THAT(Floats(*RunReference(Op::kReshape, {F(Shape{2, 3}, {1, 2, 3, 4, 5, 6})}, shape)),
              ElementsAre(1, 2, 3, 4, 5, 6));
  Attrs axis1;
  axis1.axis = 1;
  const Tensor c =
      *RunReference(Op::kConcat, {F(Shape{2, 1}, {1, 2}), F(Shape{2, 2}, {3, 4, 5, 6})}, axis1);
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_THAT(Floats(c), ElementsAre(1, 3, 4, 2, 5, 6));
  Attrs axis0;
  const Tensor r =
      *RunReference(Op::kConcat, {F(Shape{1, 2}, {1, 2}), F(Shape{1, 2}, {3, 4})}, axis0);
  EXPECT_THAT(Floats(r), ElementsAre(1, 2, 3, 4));
  Attrs slice;
  slice.axis = 1;
  slice.begin = 1;
  slice.end = 3;
  const Tensor s = *RunReference(Op::kSlice, {F(Shape{2, 4}, {1, 2, 3, 4, 5, 6, 7, 8})}, slice);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_THAT(Floats(s), ElementsAre(2, 3, 6, 7));
}

TEST(ReferenceShapeTest, GatherAndScatterAddRows) {
  const Tensor params = F(Shape{3, 2}, {1, 2, 3, 4, 5, 6});
  for (DType dtype : {DType::kInt32, DType::kInt64}) {
    const Tensor idx = Typed(dtype, Shape{2, 2}, {2, 0, 2, 1});
    const Tensor g = *RunReference(Op::kGather, {params, idx});
    EXPECT_EQ(g.shape(), (Shape{2, 2, 2}));
    EXPECT_THAT(Floats(g), ElementsAre(5, 6, 1, 2, 5, 6, 3, 4));
    Attrs out;
    out.shape = Shape{3, 2};
    const Tensor s = *RunReference(Op::kScatterAddRows, {g, idx}, out);
    // Row 2 gathered twice: its updates add.
    EXPECT_THAT(Floats(s), ElementsAre(1, 2, 3, 4, 10, 12));
  }
  // Out-of-range indices read zeros and are skipped by the scatter.
  const Tensor bad = Typed(DType::kInt32, Shape{1}, {5});
  EXPECT_THAT(Floats(*RunReference(Op::kGather, {params, bad})), ElementsAre(0, 0));
}

TEST(ReferenceShapeTest, OneHotFromIntegerDtypes) {
  Attrs depth;
  depth.depth = 3;
  for (DType dtype : {DType::kInt32, DType::kInt64}) {
    const Tensor idx = Typed(dtype, Shape{3}, {2, 0, 7});
    const Tensor y = *RunReference(Op::kOneHot, {idx}, depth);
    EXPECT_EQ(y.dtype(), DType::kFloat32);
    EXPECT_EQ(y.shape(), (Shape{3, 3}));
    EXPECT_THAT(Floats(y), ElementsAre(0, 0, 1, 1, 0, 0, 0, 0, 0));
  }
  // uint8 labels (IDX files) through the kernel directly.
  Graph graph;
  Node node;
  node.op = Op::kOneHot;
  node.shape = Shape{2, 3};
  node.attrs.depth = 3;
  const ValueId id = graph.Append(node);
  const std::vector<Tensor> ins = {Typed(DType::kUInt8, Shape{2}, {1, 2})};
  Tensor out(DType::kFloat32, Shape{2, 3});
  ReferenceKernel(Op::kOneHot)(KernelContext{graph.node(id), ins, out, 0, 0, 1});
  EXPECT_THAT(Floats(out), ElementsAre(0, 1, 0, 0, 0, 1));
}

TEST(ReferenceLeafTest, DimSizeRandomUniformAssign) {
  Attrs axis;
  axis.axis = 1;
  EXPECT_THAT(Floats(*RunReference(Op::kDimSize, {Tensor(DType::kFloat32, Shape{2, 5})}, axis)),
              ElementsAre(5));
  Graph graph;
  Builder b(&graph);
  const ValueId r = b.RandomUniform(Shape{2, 3}, 3);
  ASSERT_TRUE(b.ok()) << b.status();
  Tensor out(DType::kFloat32, Shape{2, 3});
  ReferenceKernel(Op::kRandomUniform)(KernelContext{graph.node(r), {}, out, 11, 4, 1});
  std::vector<float> expected(6);
  FillUniform(11, 4, 3, 0, 6, expected.data());
  EXPECT_EQ(Floats(out), expected);
}

TEST(ReferenceFusedTest, FusedElementwiseEvaluatesTheProgramWithBroadcasting) {
  // (in0 * c0) + in1, in1 broadcast along rows.
  auto program = std::make_shared<FusedProgram>();
  program->num_inputs = 2;
  program->constants = {2.0f};
  program->instrs = {{Op::kMul, {0, 2, -1}}, {Op::kAdd, {3, 1, -1}}};
  Graph graph;
  Node node;
  node.op = Op::kFusedElementwise;
  node.shape = Shape{2, 2};
  node.attrs.program = program;
  const ValueId id = graph.Append(node);
  const std::vector<Tensor> ins = {F(Shape{2, 2}, {1, 2, 3, 4}), F(Shape{2}, {10, 20})};
  Tensor out(DType::kFloat32, Shape{2, 2});
  ReferenceKernel(Op::kFusedElementwise)(KernelContext{graph.node(id), ins, out, 0, 0, 1});
  EXPECT_THAT(Floats(out), ElementsAre(12, 24, 16, 28));
}

TEST(ReferenceFusedTest, FusedMatMulAddsBiasThenEpilogue) {
  Graph graph;
  Node node;
  node.op = Op::kFusedMatMul;
  node.shape = Shape{2, 2};
  node.attrs.has_bias = true;
  node.attrs.transpose_b = true;
  node.attrs.epilogue = {Op::kRelu, Op::kNeg};
  const ValueId id = graph.Append(node);
  const std::vector<Tensor> ins = {F(Shape{2, 2}, {1, 2, 3, 4}), F(Shape{2, 2}, {1, 0, 0, 1}),
                                   F(Shape{2}, {-2, 1})};
  Tensor out(DType::kFloat32, Shape{2, 2});
  ReferenceKernel(Op::kFusedMatMul)(KernelContext{graph.node(id), ins, out, 0, 0, 1});
  // a @ I = a; + bias = [[-1, 3], [1, 5]]; relu; neg.
  EXPECT_THAT(Floats(out), ElementsAre(0, -3, -1, -5));
}

TEST(ReferenceFusedTest, FusedConv2DMatchesConvPlusBias) {
  Graph graph;
  Node node;
  node.op = Op::kFusedConv2D;
  node.shape = Shape{1, 2, 2, 1};
  node.attrs.has_bias = true;
  node.attrs.epilogue = {Op::kRelu};
  const ValueId id = graph.Append(node);
  const std::vector<Tensor> ins = {F(Shape{1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}),
                                   F(Shape{2, 2, 1, 1}, {1, 0, 0, -1}), F(Shape{1}, {4.5f})};
  Tensor out(DType::kFloat32, Shape{1, 2, 2, 1});
  ReferenceKernel(Op::kFusedConv2D)(KernelContext{graph.node(id), ins, out, 0, 0, 1});
  // x[i][j] - x[i+1][j+1] = -4 everywhere; + 4.5 = 0.5.
  EXPECT_THAT(Floats(out), ElementsAre(0.5f, 0.5f, 0.5f, 0.5f));
}

}  // namespace
}  // namespace fornax
