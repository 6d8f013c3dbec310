// Reference MatMul, convolution and pooling kernels: hand-computed cases, a
// direct-formula convolution, and adjoint identities for the gradients.
#include <random>

#include "engine/backends/reference/reference_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::fornax::testing::Floats;
using ::fornax::testing::RunReference;
using ::testing::ElementsAre;

Tensor F(Shape shape, std::vector<float> v) { return Tensor::FromFloats(std::move(shape), v); }

Tensor Random(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

double Dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i)
    s += static_cast<double>(a.data<float>()[i]) * b.data<float>()[i];
  return s;
}

TEST(ReferenceMatMulTest, AllTransposeCombinations) {
  const Tensor a = F(Shape{2, 3}, {1, 2, 3, 4, 5, 6});     // [[1,2,3],[4,5,6]]
  const Tensor b = F(Shape{3, 2}, {7, 8, 9, 10, 11, 12});  // [[7,8],[9,10],[11,12]]
  const Tensor at = F(Shape{3, 2}, {1, 4, 2, 5, 3, 6});
  const Tensor bt = F(Shape{2, 3}, {7, 9, 11, 8, 10, 12});
  const auto expected = ElementsAre(58, 64, 139, 154);
  EXPECT_THAT(Floats(*RunReference(Op::kMatMul, {a, b})), expected);
  Attrs ta;
  ta.transpose_a = true;
  EXPECT_THAT(Floats(*RunReference(Op::kMatMul, {at, b}, ta)), expected);
  Attrs tb;
  tb.transpose_b = true;
  EXPECT_THAT(Floats(*RunReference(Op::kMatMul, {a, bt}, tb)), expected);
  Attrs both;
  both.transpose_a = both.transpose_b = true;
  EXPECT_THAT(Floats(*RunReference(Op::kMatMul, {at, bt}, both)), expected);
}

Attrs ConvAttrs(int64_t stride, Padding padding, int64_t dilation = 1) {
  Attrs a;
  a.strides = {stride, stride};
  a.padding = padding;
  a.dilation = {dilation, dilation};
  return a;
}

TEST(ReferenceConvTest, SamePaddingPutsTheExtraCellAfter) {
  // 3x3 ones, 2x2 ones filter, 'same': total pad 1, all of it after.
  const Tensor x = F(Shape{1, 3, 3, 1}, std::vector<float>(9, 1));
  const Tensor w = F(Shape{2, 2, 1, 1}, std::vector<float>(4, 1));
  const Tensor y = *RunReference(Op::kConv2D, {x, w}, ConvAttrs(1, Padding::kSame));
  EXPECT_EQ(y.shape(), (Shape{1, 3, 3, 1}));
  EXPECT_THAT(Floats(y), ElementsAre(4, 4, 2, 4, 4, 2, 2, 2, 1));
  const Tensor v = *RunReference(Op::kConv2D, {x, w}, ConvAttrs(1, Padding::kValid));
  EXPECT_EQ(v.shape(), (Shape{1, 2, 2, 1}));
  EXPECT_THAT(Floats(v), ElementsAre(4, 4, 4, 4));
}

TEST(ReferenceConvTest, StrideTwoSameAndDilation) {
  // 4x4 input x[i][j] = 4i + j, 3x3 ones filter, stride 2 'same': out 2x2,
  // total pad 1 (0 before): windows rows {0,1,2} and {2,3}.
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  const Tensor x = F(Shape{1, 4, 4, 1}, v);
  const Tensor w = F(Shape{3, 3, 1, 1}, std::vector<float>(9, 1));
  const Tensor y = *RunReference(Op::kConv2D, {x, w}, ConvAttrs(2, Padding::kSame));
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 1}));
  // rows 0-2 x cols 0-2: 45; rows 0-2 x cols 2-3: 2+3+6+7+10+11 = 39;
  // rows 2-3 x cols 0-2: 8+9+10+12+13+14 = 66; rows 2-3 x cols 2-3: 10+11+14+15 = 50.
  EXPECT_THAT(Floats(y), ElementsAre(45, 39, 66, 50));
  // 2x2 filter with dilation 2, 'valid': taps (0,0),(0,2),(2,0),(2,2); out 2x2.
  const Tensor w2 = F(Shape{2, 2, 1, 1}, {1, 1, 1, 1});
  const Tensor d = *RunReference(Op::kConv2D, {x, w2}, ConvAttrs(1, Padding::kValid, 2));
  EXPECT_EQ(d.shape(), (Shape{1, 2, 2, 1}));
  EXPECT_THAT(Floats(d),
              ElementsAre(0 + 2 + 8 + 10, 1 + 3 + 9 + 11, 4 + 6 + 12 + 14, 5 + 7 + 13 + 15));
}

// Direct formula, written independently of the kernel.
float DirectConv(const Tensor& x, const Tensor& w, const Attrs& a, int64_t n, int64_t oh,
                 int64_t ow, int64_t o, int64_t out_h, int64_t out_w) {
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  auto pad = [&](int64_t in, int64_t out, int64_t k, int64_t s, int64_t d) -> int64_t {
    if (a.padding == Padding::kValid) return 0;
    return std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0) / 2;
  };
  const int64_t ph = pad(xs[1], out_h, ws[0], a.strides[0], a.dilation[0]);
  const int64_t pw = pad(xs[2], out_w, ws[1], a.strides[1], a.dilation[1]);
  double sum = 0;
  for (int64_t kh = 0; kh < ws[0]; ++kh)
    for (int64_t kw = 0; kw < ws[1]; ++kw)
      for (int64_t c = 0; c < ws[2]; ++c) {
        const int64_t ih = oh * a.strides[0] + kh * a.dilation[0] - ph;
        const int64_t iw = ow * a.strides[1] + kw * a.dilation[1] - pw;
        if (ih < 0 || iw < 0 || ih >= xs[1] || iw >= xs[2]) continue;
        sum += static_cast<double>(x.data<float>()[((n * xs[1] + ih) * xs[2] + iw) * xs[3] + c]) *
               w.data<float>()[((kh * ws[1] + kw) * ws[2] + c) * ws[3] + o];
      }
  return static_cast<float>(sum);
}

struct ConvCase {
  int64_t h, w, k, stride, dilation;
  Padding padding;
};

TEST(ReferenceConvTest, MatchesTheDirectFormulaAndGradientsAreAdjoints) {
  const ConvCase cases[] = {{5, 5, 3, 1, 1, Padding::kSame},  {6, 5, 3, 2, 1, Padding::kSame},
                            {7, 7, 2, 2, 1, Padding::kSame},  {7, 6, 3, 1, 2, Padding::kSame},
                            {5, 5, 3, 1, 1, Padding::kValid}, {8, 7, 3, 2, 1, Padding::kValid},
                            {9, 9, 3, 2, 2, Padding::kValid}, {4, 4, 1, 3, 1, Padding::kSame}};
  uint32_t seed = 1;
  for (const ConvCase& c : cases) {
    const Attrs attrs = ConvAttrs(c.stride, c.padding, c.dilation);
    const Tensor x = Random(Shape{2, c.h, c.w, 3}, seed++);
    const Tensor w = Random(Shape{c.k, c.k, 3, 4}, seed++);
    const Tensor y = *RunReference(Op::kConv2D, {x, w}, attrs);
    const int64_t oh = y.shape()[1], ow = y.shape()[2];
    const int64_t span = (c.k - 1) * c.dilation + 1;
    EXPECT_EQ(oh, c.padding == Padding::kSame ? (c.h + c.stride - 1) / c.stride
                                              : (c.h - span) / c.stride + 1);
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j)
          for (int64_t o = 0; o < 4; ++o) {
            ASSERT_NEAR(y.data<float>()[((n * oh + i) * ow + j) * 4 + o],
                        DirectConv(x, w, attrs, n, i, j, o, oh, ow), 1e-5);
          }
    // <conv(x, w), dy> = <x, backprop_input(dy, w)> = <w, backprop_filter(x, dy)>.
    const Tensor dy = Random(y.shape(), seed++);
    Attrs in_attrs = attrs;
    in_attrs.shape = x.shape();
    const Tensor dx = *RunReference(Op::kConv2DBackpropInput, {dy, w}, in_attrs);
    Attrs filter_attrs = attrs;
    filter_attrs.shape = w.shape();
    const Tensor dw = *RunReference(Op::kConv2DBackpropFilter, {x, dy}, filter_attrs);
    EXPECT_NEAR(Dot(y, dy), Dot(x, dx), 1e-4);
    EXPECT_NEAR(Dot(y, dy), Dot(w, dw), 1e-4);
  }
}

Attrs PoolAttrs(int64_t window, int64_t stride, Padding padding) {
  Attrs a;
  a.window = {window, window};
  a.strides = {stride, stride};
  a.padding = padding;
  return a;
}

TEST(ReferencePoolTest, MaxPoolAndItsGradientGoToTheFirstMax) {
  // 2 channels; channel 1 is constant (all ties).
  const Tensor x = F(Shape{1, 2, 4, 2}, {1, 5, 3, 5, 2, 5, 2, 5, 0, 5, 3, 5, 1, 5, 2, 5});
  const Attrs attrs = PoolAttrs(2, 2, Padding::kValid);
  const Tensor y = *RunReference(Op::kMaxPool2D, {x}, attrs);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_THAT(Floats(y), ElementsAre(3, 5, 2, 5));
  const Tensor dy = F(Shape{1, 1, 2, 2}, {10, 20, 30, 40});
  const Tensor dx = *RunReference(Op::kMaxPool2DGrad, {x, dy}, attrs);
  // Channel 0: window 1 max 3 at (0,1) and (1,1): first is (0,1). Window 2:
  // 2 at (0,2), (0,3) and (1,3): first is (0,2). Channel 1: first cell.
  EXPECT_THAT(Floats(dx), ElementsAre(0, 20, 10, 0, 30, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
}

TEST(ReferencePoolTest, SamePaddingIgnoresPaddedCells) {
  const Tensor x = F(Shape{1, 3, 3, 1}, {-1, -2, -3, -4, -5, -6, -7, -8, -9});
  const Attrs attrs = PoolAttrs(2, 2, Padding::kSame);
  // Out 2x2; windows {0,1}x{0,1}, {0,1}x{2}, {2}x{0,1}, {2}x{2}.
  EXPECT_THAT(Floats(*RunReference(Op::kMaxPool2D, {x}, attrs)), ElementsAre(-1, -3, -7, -9));
  EXPECT_THAT(Floats(*RunReference(Op::kAvgPool2D, {x}, attrs)), ElementsAre(-3, -4.5f, -7.5f, -9));
}

TEST(ReferencePoolTest, AvgPoolGradientIsTheAdjoint) {
  for (Padding padding : {Padding::kValid, Padding::kSame}) {
    for (int64_t stride : {1, 2}) {
      const Attrs attrs = PoolAttrs(3, stride, padding);
      const Tensor x = Random(Shape{2, 5, 6, 3}, 7);
      const Tensor y = *RunReference(Op::kAvgPool2D, {x}, attrs);
      const Tensor dy = Random(y.shape(), 8);
      Attrs grad_attrs = attrs;
      grad_attrs.shape = x.shape();
      const Tensor dx = *RunReference(Op::kAvgPool2DGrad, {dy}, grad_attrs);
      EXPECT_NEAR(Dot(y, dy), Dot(x, dx), 1e-4);
    }
  }
}

}  // namespace
}  // namespace fornax
