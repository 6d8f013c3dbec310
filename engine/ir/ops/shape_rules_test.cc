// Shape and dtype rules of the OpDefs, driven through Builder, including the
// error messages users see.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/ir/builder.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

class ShapeRulesTest : public ::testing::Test {
 protected:
  ValueId In(Shape s, DType d = DType::kFloat32) { return b_.Input(next_++, d, std::move(s)); }
  void ExpectShape(ValueId v, Shape s, DType d = DType::kFloat32) {
    ASSERT_TRUE(b_.ok()) << b_.status();
    EXPECT_EQ(b_.shape(v), s) << b_.shape(v).ToString();
    EXPECT_EQ(b_.dtype(v), d);
  }
  void ExpectError(std::string_view substring) {
    EXPECT_EQ(b_.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(b_.status().message()), HasSubstr(std::string(substring)));
  }
  Graph g_;
  Builder b_{&g_};
  int next_ = 0;
};

TEST_F(ShapeRulesTest, BinaryBroadcastsWithBatch) {
  ExpectShape(b_.Add(In({kBatch, 1, 4}), In({3, 1})), Shape{kBatch, 3, 4});
  ExpectShape(b_.Mul(In({kBatch, 4}), In({1, 4})), Shape{kBatch, 4});
  ExpectShape(b_.Binary(Op::kLess, In({2}), In({2})), Shape{2}, DType::kBool);
}

TEST_F(ShapeRulesTest, BinaryRejectsIncompatibleShapes) {
  b_.Add(In({kBatch, 10}), In({3}));
  ExpectError("add: shapes (None, 10) and (3,) cannot be broadcast");
}

TEST_F(ShapeRulesTest, BatchDoesNotBroadcastAgainstConcreteSize) {
  b_.Sub(In({kBatch, 2}), In({5, 2}));
  ExpectError("sub: shapes (None, 2) and (5, 2)");
}

TEST_F(ShapeRulesTest, FloatOnlyUnaryRejectsInts) {
  b_.Exp(In({3}, DType::kInt32));
  ExpectError("exp: expected x to have a floating dtype, got int32(3,)");
}

TEST_F(ShapeRulesTest, LogicAndWhere) {
  ValueId c = b_.Binary(Op::kGreater, In({kBatch, 3}), In({3}));
  ExpectShape(b_.Binary(Op::kLogicalAnd, c, c), Shape{kBatch, 3}, DType::kBool);
  ExpectShape(b_.Unary(Op::kLogicalNot, c), Shape{kBatch, 3}, DType::kBool);
  ExpectShape(b_.Where(c, In({1}), b_.Scalar(0)), Shape{kBatch, 3});
  ExpectShape(b_.Unary(Op::kIsFinite, In({2})), Shape{2}, DType::kBool);
  b_.Where(In({3}), In({3}), In({3}));
  ExpectError("where: expected cond of dtype bool, got float32(3,)");
}

TEST_F(ShapeRulesTest, LogicRejectsNonBool) {
  b_.Binary(Op::kLogicalOr, In({2}), In({2}));
  ExpectError("logical_or: expected bool operands, got float32(2,) and float32(2,)");
}

TEST_F(ShapeRulesTest, Reductions) {
  ValueId x = In({kBatch, 4, 5});
  ExpectShape(b_.Sum(x, {-1, 1}), Shape{kBatch});
  ExpectShape(b_.Mean(x, {0}, /*keepdims=*/true), Shape{1, 4, 5});
  ExpectShape(b_.Max(x, {2}), Shape{kBatch, 4});
  ExpectShape(b_.ArgMax(x, -1), Shape{kBatch, 4}, DType::kInt32);
  ExpectShape(b_.SumAll(x), Shape{});
  EXPECT_EQ(g_.node(b_.Sum(x, {2, 0})).attrs.axes, (std::vector<int64_t>{0, 2}));
}

TEST_F(ShapeRulesTest, ReductionAxisErrors) {
  b_.Sum(In({2, 3}), {2});
  ExpectError("reduce_sum: axis 2 is out of range for rank 2 input (2, 3)");
}

TEST_F(ShapeRulesTest, ReductionRejectsRepeatedAxes) {
  b_.Max(In({2, 3}), {1, -1});
  ExpectError("reduce_max: repeated axis in [1, 1]");
}

TEST_F(ShapeRulesTest, ReshapeWithBatch) {
  ExpectShape(b_.Reshape(In({kBatch, 4, 3}), Shape{kBatch, 12}), Shape{kBatch, 12});
  b_.Reshape(In({kBatch, 10}), Shape{kBatch, 7});
  ExpectError("reshape: cannot reshape float32(None, 10) to (None, 7): element counts differ");
}

TEST_F(ShapeRulesTest, ReshapeInfersOneDimForUnbatchedInputs) {
  ExpectShape(b_.Reshape(In({4, 6}), Shape{-1, 3}), Shape{8, 3});
  b_.Reshape(In({4, 6}), Shape{-1, 5});
  ExpectError("reshape: cannot reshape (4, 6) (24 elements per batch item) to [-1, 5]");
}

TEST_F(ShapeRulesTest, ReshapeInfersOneDimAfterTheBatch) {
  ExpectShape(b_.Reshape(In({kBatch, 4, 6}), Shape{kBatch, -1, 4}), Shape{kBatch, 6, 4});
  ExpectShape(b_.Reshape(In({kBatch, 4, 6}), Shape{kBatch, -1}), Shape{kBatch, 24});
  b_.Reshape(In({kBatch, 4, 6}), Shape{kBatch, -1, -1});
  ExpectError("reshape: cannot reshape (None, 4, 6) (24 elements per batch item) to [-1, -1, -1]");
}

TEST_F(ShapeRulesTest, ReshapeRejectsDroppingTheBatch) {
  b_.Reshape(In({kBatch, 4}), Shape{4});
  ExpectError("reshape: cannot reshape float32(None, 4) to (4,)");
}

TEST_F(ShapeRulesTest, TransposeAndBroadcast) {
  ExpectShape(b_.Transpose(In({kBatch, 2, 3}), {0, 2, 1}), Shape{kBatch, 3, 2});
  ExpectShape(b_.BroadcastTo(In({1, 3}), Shape{kBatch, 3}), Shape{kBatch, 3});
  b_.Transpose(In({2, 3}), {0, 0});
  ExpectError("transpose: expected a permutation of 2 axes for float32(2, 3), got [0, 0]");
}

TEST_F(ShapeRulesTest, BroadcastToRejectsShrinking) {
  b_.BroadcastTo(In({kBatch, 3}), Shape{4, 3});
  ExpectError("broadcast_to: cannot broadcast float32(None, 3) to (4, 3)");
}

TEST_F(ShapeRulesTest, ConcatAndSlice) {
  ExpectShape(b_.Concat({In({kBatch, 2}), In({kBatch, 3})}, -1), Shape{kBatch, 5});
  ExpectShape(b_.Slice(In({kBatch, 6}), 1, 2, 5), Shape{kBatch, 3});
  b_.Concat({In({kBatch, 2}), In({kBatch, 2, 1})}, 1);
  ExpectError("concat: input 1 is float32(None, 2, 1), which does not match input 0");
}

TEST_F(ShapeRulesTest, SliceBoundsError) {
  b_.Slice(In({4, 6}), 1, 2, 7);
  ExpectError("slice: expected 0 <= begin <= end <= 6 along axis 1 of float32(4, 6), got [2, 7)");
}

TEST_F(ShapeRulesTest, GatherAndOneHot) {
  ValueId table = In({100, 8});
  ValueId ids = In({kBatch, 5}, DType::kInt32);
  ExpectShape(b_.Gather(table, ids), Shape{kBatch, 5, 8});
  ExpectShape(b_.OneHot(ids, 10), Shape{kBatch, 5, 10});
  ExpectShape(b_.OneHot(In({kBatch}, DType::kUInt8), 10), Shape{kBatch, 10});
  b_.Gather(table, In({3}));
  ExpectError("gather: expected integer indices (int32, int64 or uint8), got float32(3,)");
}

TEST_F(ShapeRulesTest, MatMul) {
  ExpectShape(b_.MatMul(In({kBatch, 10}), In({10, 3})), Shape{kBatch, 3});
  ExpectShape(b_.MatMul(In({kBatch, 10}), In({kBatch, 3}), true, false), Shape{10, 3});
  ExpectShape(b_.MatMul(In({4, 10}), In({3, 10}), false, true), Shape{4, 3});
  b_.MatMul(In({kBatch, 10}), In({12, 3}));
  ExpectError("matmul: inner dimensions differ: a is float32(None, 10) and b is float32(12, 3)");
}

TEST_F(ShapeRulesTest, MatMulRank) {
  b_.MatMul(In({2, 3, 4}), In({4, 3}));
  ExpectError("matmul: expected a of rank 2, got float32(2, 3, 4)");
}

TEST_F(ShapeRulesTest, Conv2DPadding) {
  ValueId x = In({kBatch, 28, 28, 3});
  ValueId w = In({3, 3, 3, 16});
  ExpectShape(b_.Conv2D(x, w, {1, 1}, Padding::kValid), Shape{kBatch, 26, 26, 16});
  ExpectShape(b_.Conv2D(x, w, {2, 2}, Padding::kSame), Shape{kBatch, 14, 14, 16});
  ExpectShape(b_.Conv2D(x, w, {2, 2}, Padding::kValid), Shape{kBatch, 13, 13, 16});
  ExpectShape(b_.Conv2D(x, w, {1, 1}, Padding::kValid, {2, 2}), Shape{kBatch, 24, 24, 16});
  b_.Conv2D(x, In({3, 3, 4, 16}), {1, 1}, Padding::kValid);
  ExpectError("conv2d: input channels differ");
}

TEST_F(ShapeRulesTest, Conv2DWindowTooLarge) {
  b_.Conv2D(In({1, 2, 2, 1}), In({3, 3, 1, 1}), {1, 1}, Padding::kValid);
  ExpectError("conv2d: window of effective size 3 does not fit in a spatial dimension of size 2");
}

TEST_F(ShapeRulesTest, ConvBackpropChecksDy) {
  ValueId w = In({3, 3, 2, 4});
  Attrs attrs;
  attrs.shape = Shape{kBatch, 8, 8, 2};
  ExpectShape(b_.Emit(Op::kConv2DBackpropInput, {In({kBatch, 6, 6, 4}), w}, attrs),
              Shape{kBatch, 8, 8, 2});
  b_.Emit(Op::kConv2DBackpropInput, {In({kBatch, 8, 8, 4}), w}, attrs);
  ExpectError(
      "conv2d_backprop_input: expected dy of shape (None, 6, 6, 4), got float32(None, 8, 8, 4)");
}

TEST_F(ShapeRulesTest, Pooling) {
  ValueId x = In({kBatch, 7, 7, 3});
  ExpectShape(b_.MaxPool2D(x, {2, 2}, {2, 2}, Padding::kValid), Shape{kBatch, 3, 3, 3});
  ExpectShape(b_.AvgPool2D(x, {2, 2}, {2, 2}, Padding::kSame), Shape{kBatch, 4, 4, 3});
  b_.MaxPool2D(In({kBatch, 7, 3}), {2, 2}, {2, 2}, Padding::kValid);
  ExpectError("max_pool2d: expected x of rank 4 (NHWC), got (None, 7, 3)");
}

TEST_F(ShapeRulesTest, LeavesAndAssign) {
  ExpectShape(b_.RandomUniform(Shape{kBatch, 3}, 7), Shape{kBatch, 3});
  ExpectShape(b_.DimSize(In({kBatch, 3}), 0), Shape{});
  ValueId v = b_.Variable(2, DType::kFloat32, Shape{3});
  ExpectShape(b_.Assign(2, b_.Add(v, b_.Scalar(1))), Shape{3});
  b_.Variable(0, DType::kFloat32, Shape{kBatch});
  ExpectError("variable: expected a fully known shape");
}

TEST_F(ShapeRulesTest, ScatterOneHotCastAndDimSizeErrors) {
  ValueId ids = In({4}, DType::kInt32);
  b_.Emit(Op::kScatterAddRows, {In({4, 2}), ids}, [] {
    Attrs a;
    a.shape = Shape{5, 3};
    return a;
  }());
  ExpectError("scatter_add_rows: expected updates of shape (4, 3), got float32(4, 2)");
  b_.TakeStatus().IgnoreError();
  b_.OneHot(ids, 0);
  ExpectError("one_hot: depth must be >= 1, got 0");
  b_.TakeStatus().IgnoreError();
  ExpectShape(b_.Cast(ids, DType::kFloat16), Shape{4}, DType::kFloat16);
  b_.DimSize(ids, 1);
  ExpectError("dim_size: axis 1 is out of range for rank 1 input (4,)");
}

TEST_F(ShapeRulesTest, ArityIsChecked) {
  b_.Emit(Op::kAdd, {In({1})});
  ExpectError("add: expected 2 inputs, got 1");
}

}  // namespace
}  // namespace fornax
