// Reference elementwise, reduction and cast kernels on hand-computed cases.
#include <cmath>
#include <limits>

#include "engine/backends/reference/reference_test_util.h"
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

TEST(ReferenceElementwiseTest, UnaryFloatOps) {
  const Tensor x = F(Shape{4}, {-2, -0.5f, 0, 3});
  EXPECT_THAT(Floats(*RunReference(Op::kRelu, {x})), ElementsAre(0, 0, 0, 3));
  EXPECT_THAT(Floats(*RunReference(Op::kNeg, {x})), ElementsAre(2, 0.5f, 0, -3));
  EXPECT_THAT(Floats(*RunReference(Op::kAbs, {x})), ElementsAre(2, 0.5f, 0, 3));
  EXPECT_THAT(Floats(*RunReference(Op::kSign, {x})), ElementsAre(-1, -1, 0, 1));
  EXPECT_THAT(Floats(*RunReference(Op::kFloor, {x})), ElementsAre(-2, -1, 0, 3));
  const std::vector<float> e = Floats(*RunReference(Op::kExp, {x}));
  EXPECT_FLOAT_EQ(e[3], std::exp(3.0f));
  const std::vector<float> s = Floats(*RunReference(Op::kSigmoid, {x}));
  EXPECT_FLOAT_EQ(s[2], 0.5f);
  EXPECT_FLOAT_EQ(s[0], 1 / (1 + std::exp(2.0f)));
  const Tensor pos = F(Shape{2}, {4, 0.25f});
  EXPECT_THAT(Floats(*RunReference(Op::kSqrt, {pos})), ElementsAre(2, 0.5f));
  EXPECT_THAT(Floats(*RunReference(Op::kRsqrt, {pos})), ElementsAre(0.5f, 2));
  EXPECT_FLOAT_EQ(Floats(*RunReference(Op::kLog, {pos}))[0], std::log(4.0f));
  EXPECT_FLOAT_EQ(Floats(*RunReference(Op::kLog1p, {pos}))[1], std::log1p(0.25f));
  EXPECT_FLOAT_EQ(Floats(*RunReference(Op::kTanh, {pos}))[1], std::tanh(0.25f));
  EXPECT_FLOAT_EQ(Floats(*RunReference(Op::kErf, {pos}))[1], std::erf(0.25f));
}

TEST(ReferenceElementwiseTest, IntegerUnaryAndBoolOps) {
  const Tensor i = Typed(DType::kInt32, Shape{3}, {-3, 0, 5});
  EXPECT_THAT(Ints(*RunReference(Op::kNeg, {i})), ElementsAre(3, 0, -5));
  EXPECT_THAT(Ints(*RunReference(Op::kAbs, {i})), ElementsAre(3, 0, 5));
  EXPECT_THAT(Ints(*RunReference(Op::kSign, {i})), ElementsAre(-1, 0, 1));
  const Tensor b = Typed(DType::kBool, Shape{2}, {1, 0});
  EXPECT_THAT(Ints(*RunReference(Op::kLogicalNot, {b})), ElementsAre(0, 1));
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_THAT(Ints(*RunReference(Op::kIsFinite, {F(Shape{3}, {1, inf, std::nanf("")})})),
              ElementsAre(1, 0, 0));
}

TEST(ReferenceElementwiseTest, BinaryBroadcastsLikeNumPy) {
  const Tensor a = F(Shape{2, 1, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor b = F(Shape{2, 1}, {10, 20});
  const Tensor sum = *RunReference(Op::kAdd, {a, b});
  EXPECT_EQ(sum.shape(), (Shape{2, 2, 3}));
  EXPECT_THAT(Floats(sum), ElementsAre(11, 12, 13, 21, 22, 23, 14, 15, 16, 24, 25, 26));
  const Tensor scalar = Tensor::Scalar(2);
  EXPECT_THAT(Floats(*RunReference(Op::kSub, {scalar, b})), ElementsAre(-8, -18));
  EXPECT_THAT(Floats(*RunReference(Op::kDiv, {b, scalar})), ElementsAre(5, 10));
  EXPECT_THAT(Floats(*RunReference(Op::kPow, {b, scalar})), ElementsAre(100, 400));
  EXPECT_THAT(Floats(*RunReference(Op::kMul, {F(Shape{3}, {1, 2, 3}), F(Shape{3}, {4, 5, 6})})),
              ElementsAre(4, 10, 18));
  EXPECT_THAT(Floats(*RunReference(Op::kMaximum, {F(Shape{3}, {1, 5, 3}), F(Shape{1}, {3})})),
              ElementsAre(3, 5, 3));
  EXPECT_THAT(Floats(*RunReference(Op::kMinimum, {F(Shape{3}, {1, 5, 3}), F(Shape{1}, {3})})),
              ElementsAre(1, 3, 3));
}

TEST(ReferenceElementwiseTest, IntegerArithmetic) {
  for (DType dtype : {DType::kInt32, DType::kInt64}) {
    const Tensor a = Typed(dtype, Shape{2, 2}, {1, -2, 3, 4});
    const Tensor b = Typed(dtype, Shape{2}, {10, -20});
    const Tensor sum = *RunReference(Op::kAdd, {a, b});
    EXPECT_EQ(sum.dtype(), dtype);
    EXPECT_THAT(Ints(sum), ElementsAre(11, -22, 13, -16));
    EXPECT_THAT(Ints(*RunReference(Op::kSub, {a, b})), ElementsAre(-9, 18, -7, 24));
    EXPECT_THAT(Ints(*RunReference(Op::kMul, {a, b})), ElementsAre(10, 40, 30, -80));
    EXPECT_THAT(Ints(*RunReference(Op::kMaximum, {a, b})), ElementsAre(10, -2, 10, 4));
    EXPECT_THAT(Ints(*RunReference(Op::kMinimum, {a, b})), ElementsAre(1, -20, 3, -20));
  }
  // int64 stays exact beyond float precision.
  const Tensor big = Typed(DType::kInt64, Shape{1}, {0});
  Tensor big_in = big;
  big_in.data<int64_t>()[0] = (int64_t{1} << 40) + 1;
  EXPECT_EQ((*RunReference(Op::kAdd, {big_in, big_in})).data<int64_t>()[0], (int64_t{1} << 41) + 2);
}

TEST(ReferenceElementwiseTest, ComparisonsGiveBool) {
  const Tensor a = F(Shape{3}, {1, 2, 3});
  const Tensor b = F(Shape{1}, {2});
  const Tensor gt = *RunReference(Op::kGreater, {a, b});
  EXPECT_EQ(gt.dtype(), DType::kBool);
  EXPECT_THAT(Ints(gt), ElementsAre(0, 0, 1));
  EXPECT_THAT(Ints(*RunReference(Op::kGreaterEqual, {a, b})), ElementsAre(0, 1, 1));
  EXPECT_THAT(Ints(*RunReference(Op::kLess, {a, b})), ElementsAre(1, 0, 0));
  EXPECT_THAT(Ints(*RunReference(Op::kLessEqual, {a, b})), ElementsAre(1, 1, 0));
  EXPECT_THAT(Ints(*RunReference(Op::kEqual, {a, b})), ElementsAre(0, 1, 0));
  EXPECT_THAT(Ints(*RunReference(Op::kNotEqual, {a, b})), ElementsAre(1, 0, 1));
  const Tensor i = Typed(DType::kInt32, Shape{3}, {7, 8, 9});
  const Tensor j = Typed(DType::kInt32, Shape{3}, {7, 0, 9});
  EXPECT_THAT(Ints(*RunReference(Op::kEqual, {i, j})), ElementsAre(1, 0, 1));
  const Tensor p = Typed(DType::kBool, Shape{4}, {0, 0, 1, 1});
  const Tensor q = Typed(DType::kBool, Shape{4}, {0, 1, 0, 1});
  EXPECT_THAT(Ints(*RunReference(Op::kLogicalAnd, {p, q})), ElementsAre(0, 0, 0, 1));
  EXPECT_THAT(Ints(*RunReference(Op::kLogicalOr, {p, q})), ElementsAre(0, 1, 1, 1));
}

TEST(ReferenceElementwiseTest, WhereBroadcastsAllThree) {
  const Tensor cond = Typed(DType::kBool, Shape{2, 1}, {1, 0});
  const Tensor a = F(Shape{3}, {1, 2, 3});
  const Tensor b = Tensor::Scalar(-1);
  EXPECT_THAT(Floats(*RunReference(Op::kWhere, {cond, a, b})), ElementsAre(1, 2, 3, -1, -1, -1));
  const Tensor ia = Typed(DType::kInt64, Shape{2}, {5, 6});
  const Tensor ib = Typed(DType::kInt64, Shape{2}, {7, 8});
  EXPECT_THAT(Ints(*RunReference(Op::kWhere, {Typed(DType::kBool, Shape{2}, {0, 1}), ia, ib})),
              ElementsAre(7, 6));
}

TEST(ReferenceElementwiseTest, CastBetweenAllDtypes) {
  const std::vector<double> values = {0, 1, 2, 100};
  for (int from = 0; from < kNumDTypes; ++from) {
    for (int to = 0; to < kNumDTypes; ++to) {
      const DType src = static_cast<DType>(from);
      const DType dst = static_cast<DType>(to);
      Attrs attrs;
      attrs.dtype = dst;
      const Tensor x =
          Typed(src, Shape{4}, src == DType::kBool ? std::vector<double>{0, 1, 1, 0} : values);
      const Tensor y = *RunReference(Op::kCast, {x}, attrs);
      ASSERT_EQ(y.dtype(), dst);
      for (int64_t i = 0; i < 4; ++i) {
        const double v = x.GetAsDouble(i);
        EXPECT_EQ(y.GetAsDouble(i), dst == DType::kBool ? (v != 0 ? 1 : 0) : v)
            << DTypeName(src) << " -> " << DTypeName(dst) << " element " << i;
      }
    }
  }
}

TEST(ReferenceElementwiseTest, CastRoundsToHalfAndBFloat16ToNearestEven) {
  Attrs to_half;
  to_half.dtype = DType::kFloat16;
  // float16 has 10 fraction bits: 1 + 2^-11 is a tie (rounds down to even 1),
  // 1 + 3 * 2^-11 is a tie between 1 + 2^-10 and 1 + 2^-9 (rounds to the latter).
  const Tensor x = F(Shape{3}, {1 + std::ldexp(1.0f, -11), 1 + 3 * std::ldexp(1.0f, -11), 65520});
  const Tensor h = *RunReference(Op::kCast, {x}, to_half);
  EXPECT_EQ(h.GetAsDouble(0), 1.0);
  EXPECT_EQ(h.GetAsDouble(1), 1 + std::ldexp(1.0, -9));
  EXPECT_TRUE(std::isinf(h.GetAsDouble(2)));  // above float16's max rounds to inf
  Attrs to_bf16;
  to_bf16.dtype = DType::kBFloat16;
  // bfloat16 has 7 fraction bits.
  const Tensor y = F(Shape{2}, {1 + std::ldexp(1.0f, -8), 1 + 3 * std::ldexp(1.0f, -8)});
  const Tensor bf = *RunReference(Op::kCast, {y}, to_bf16);
  EXPECT_EQ(bf.GetAsDouble(0), 1.0);
  EXPECT_EQ(bf.GetAsDouble(1), 1 + std::ldexp(1.0, -6));
  // And back: float16 -> float32 is exact.
  Attrs to_f32;
  to_f32.dtype = DType::kFloat32;
  EXPECT_THAT(Floats(*RunReference(Op::kCast, {h}, to_f32))[1], 1 + std::ldexp(1.0f, -9));
}

TEST(ReferenceElementwiseTest, FloatToIntCastTruncatesAndSaturates) {
  Attrs to;
  to.dtype = DType::kInt32;
  const Tensor x = F(Shape{5}, {-1.7f, 2.9f, 3e10f, -3e10f, std::nanf("")});
  EXPECT_THAT(Ints(*RunReference(Op::kCast, {x}, to)),
              ElementsAre(-1, 2, std::numeric_limits<int32_t>::max(),
                          std::numeric_limits<int32_t>::min(), 0));
  to.dtype = DType::kUInt8;
  EXPECT_THAT(Ints(*RunReference(Op::kCast, {F(Shape{3}, {-5, 300, 7.5f})}, to)),
              ElementsAre(0, 255, 7));
}

TEST(ReferenceReductionTest, SumMeanMaxOverAxes) {
  const Tensor x = F(Shape{2, 3}, {1, 2, 3, 4, 5, 9});
  Attrs rows;
  rows.axes = {1};
  EXPECT_THAT(Floats(*RunReference(Op::kReduceSum, {x}, rows)), ElementsAre(6, 18));
  EXPECT_THAT(Floats(*RunReference(Op::kReduceMean, {x}, rows)), ElementsAre(2, 6));
  EXPECT_THAT(Floats(*RunReference(Op::kReduceMax, {x}, rows)), ElementsAre(3, 9));
  Attrs cols;
  cols.axes = {0};
  cols.keepdims = true;
  const Tensor s = *RunReference(Op::kReduceSum, {x}, cols);
  EXPECT_EQ(s.shape(), (Shape{1, 3}));
  EXPECT_THAT(Floats(s), ElementsAre(5, 7, 12));
  Attrs all;
  all.axes = {0, 1};
  EXPECT_THAT(Floats(*RunReference(Op::kReduceMean, {x}, all)), ElementsAre(4));
  const Tensor cube = F(Shape{2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Attrs outer;
  outer.axes = {0, 2};
  EXPECT_THAT(Floats(*RunReference(Op::kReduceSum, {cube}, outer)), ElementsAre(14, 22));
  const Tensor ints = Typed(DType::kInt32, Shape{3}, {1, 1, 0});
  Attrs only;
  only.axes = {0};
  EXPECT_THAT(Ints(*RunReference(Op::kReduceSum, {ints}, only)), ElementsAre(2));
}

TEST(ReferenceReductionTest, ArgMaxTakesTheFirstOfTies) {
  const Tensor x = F(Shape{2, 4}, {1, 7, 7, 2, 9, 9, 9, 9});
  Attrs last;
  last.axis = 1;
  const Tensor am = *RunReference(Op::kArgMax, {x}, last);
  EXPECT_EQ(am.dtype(), DType::kInt32);
  EXPECT_THAT(Ints(am), ElementsAre(1, 0));
  Attrs first;
  first.axis = 0;
  EXPECT_THAT(Ints(*RunReference(Op::kArgMax, {x}, first)), ElementsAre(1, 1, 1, 1));
}

}  // namespace
}  // namespace fornax
