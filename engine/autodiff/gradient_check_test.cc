// Finite-difference check of every gradient rule.
//
// Each case builds out = op(args) and y = sum(out * w) with random weights w,
// asks Gradients for dy/darg, runs the graph on the reference and cpu backends, and
// compares with central differences (eps 1e-3) computed in double on the
// host from `out`, so float32 summation noise in y does not enter. Inputs
// are chosen away from kinks and ties (relu/abs at 0, max/pool ties).
// A coverage test fails when an op with a gradient rule has no case.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <set>

#include "engine/autodiff/autodiff.h"
#include "engine/compiler/compile.h"
#include "engine/ir/op_def.h"

namespace fornax {
namespace {

constexpr int64_t kTestBatch = 2;

using Gen = std::function<double(int64_t i, int64_t n, std::mt19937& rng)>;

Gen Uniform(double lo, double hi) {
  return [=](int64_t, int64_t, std::mt19937& rng) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
}
// Distinct values spaced 0.1 apart, never 0 and never within 0.05 of another
// Distinct(...) argument with a different offset: no ties, no kinks.
Gen Distinct(double offset) {
  auto perm = std::make_shared<std::vector<int64_t>>();
  return [=](int64_t i, int64_t n, std::mt19937& rng) {
    if (i == 0) {
      perm->resize(static_cast<size_t>(n));
      std::iota(perm->begin(), perm->end(), 0);
      std::shuffle(perm->begin(), perm->end(), rng);
    }
    return (static_cast<double>((*perm)[static_cast<size_t>(i)]) - n / 2.0) * 0.1 + offset;
  };
}
Gen Ints(std::vector<int> values) {
  return [=](int64_t i, int64_t, std::mt19937&) {
    return values[static_cast<size_t>(i) % values.size()];
  };
}

struct Arg {
  Shape shape;  // concrete; dim 0 becomes kBatch in the graph when batched
  Gen gen = Uniform(-1, 1);
  bool batched = false;
  DType dtype = DType::kFloat32;
  bool wrt = true;  // float args only
};

struct GradCase {
  std::string name;
  std::vector<Arg> args;
  std::function<ValueId(Builder&, const std::vector<ValueId>&)> build;
  double eps = 1e-3;
};

// Names the case in gtest's failure lines.
void PrintTo(const GradCase& c, std::ostream* os) { *os << c.name; }

Attrs WithShape(Shape s) {
  Attrs a;
  a.shape = std::move(s);
  return a;
}
Attrs ConvAttrs(Shape s, std::array<int64_t, 2> strides, Padding p) {
  Attrs a = WithShape(std::move(s));
  a.strides = strides;
  a.padding = p;
  return a;
}
Attrs PoolAttrs(Shape s, std::array<int64_t, 2> window, std::array<int64_t, 2> strides, Padding p) {
  Attrs a = ConvAttrs(std::move(s), strides, p);
  a.window = window;
  return a;
}

using V = const std::vector<ValueId>&;
std::function<ValueId(Builder&, V)> Un(Op op) {
  return [op](Builder& b, V x) { return b.Unary(op, x[0]); };
}
std::function<ValueId(Builder&, V)> Bin(Op op) {
  return [op](Builder& b, V x) { return b.Binary(op, x[0], x[1]); };
}

std::vector<GradCase> Cases() {
  const Gen positive = Uniform(0.5, 2.0);
  return {
      {"neg", {{{2, 3}}}, Un(Op::kNeg)},
      {"exp", {{{2, 3}}}, Un(Op::kExp)},
      {"log", {{{2, 3}, positive}}, Un(Op::kLog)},
      {"log1p", {{{2, 3}, Uniform(-0.5, 2)}}, Un(Op::kLog1p)},
      {"sqrt", {{{2, 3}, positive}}, Un(Op::kSqrt)},
      {"rsqrt", {{{2, 3}, positive}}, Un(Op::kRsqrt)},
      {"tanh", {{{2, 3}}}, Un(Op::kTanh)},
      {"sigmoid", {{{2, 3}, Uniform(-3, 3)}}, Un(Op::kSigmoid)},
      {"relu", {{{3, 4}, Distinct(0.05)}}, Un(Op::kRelu)},
      {"abs", {{{3, 4}, Distinct(0.05)}}, Un(Op::kAbs)},
      {"erf", {{{2, 3}}}, Un(Op::kErf)},
      // float16 values near 1 and eps 2^-6 are exact, and y is linear in x.
      {"cast_float16_to_float32",
       {{{2, 3}, Uniform(0.5, 0.9), false, DType::kFloat16}},
       [](Builder& b, V x) { return b.Cast(x[0], DType::kFloat32); },
       1.0 / 64},
      {"add_broadcast_batch", {{{2, 3}, Uniform(-1, 1), true}, {{3}}}, Bin(Op::kAdd)},
      {"sub_broadcast", {{{2, 3}}, {{2, 1}}}, Bin(Op::kSub)},
      {"mul_broadcast", {{{2, 1, 3}}, {{4, 1}}}, Bin(Op::kMul)},
      {"mul_fan_out", {{{3}}}, [](Builder& b, V x) { return b.Mul(x[0], b.Exp(x[0])); }},
      {"div", {{{2, 3}}, {{2, 3}, positive}}, Bin(Op::kDiv)},
      {"maximum", {{{3, 4}, Distinct(0.0)}, {{3, 4}, Distinct(0.05)}}, Bin(Op::kMaximum)},
      {"minimum", {{{3, 4}, Distinct(0.0)}, {{4}, Distinct(0.05)}}, Bin(Op::kMinimum)},
      {"pow", {{{2, 3}, positive}, {{2, 3}, Uniform(-1, 2)}}, Bin(Op::kPow)},
      {"where",
       {{{2, 3}}, {{2, 3}}, {{2, 3}, Distinct(0.05), false, DType::kFloat32, false}},
       [](Builder& b, V x) {
         return b.Where(b.Binary(Op::kGreater, x[2], b.Scalar(0)), x[0], x[1]);
       }},
      {"reduce_sum",
       {{{2, 3, 4}}},
       [](Builder& b, V x) {
         return b.Sum(x[0], {0, 2});
       }},
      {"reduce_sum_keepdims", {{{2, 3}}}, [](Builder& b, V x) { return b.Sum(x[0], {1}, true); }},
      {"reduce_mean_batch",
       {{{2, 3}, Uniform(-1, 1), true}},
       [](Builder& b, V x) { return b.Mean(x[0], {0}); }},
      {"reduce_mean_batch_and_static",
       {{{2, 3, 2}, Uniform(-1, 1), true}},
       [](Builder& b, V x) {
         return b.Mean(x[0], {0, 2});
       }},
      {"reduce_mean",
       {{{2, 3, 2}}},
       [](Builder& b, V x) {
         return b.Mean(x[0], {1, 2}, true);
       }},
      {"reduce_max", {{{3, 4}, Distinct(0.0)}}, [](Builder& b, V x) { return b.Max(x[0], {1}); }},
      {"reduce_max_keepdims",
       {{{2, 3, 2}, Distinct(0.0)}},
       [](Builder& b, V x) {
         return b.Max(x[0], {0, 2}, true);
       }},
      {"reshape_batch",
       {{{2, 2, 3}, Uniform(-1, 1), true}},
       [](Builder& b, V x) {
         return b.Reshape(x[0], Shape{kBatch, 6});
       }},
      {"transpose",
       {{{2, 3, 4}}},
       [](Builder& b, V x) {
         return b.Transpose(x[0], {2, 0, 1});
       }},
      {"broadcast_to",
       {{{1, 3}}},
       [](Builder& b, V x) {
         return b.BroadcastTo(x[0], Shape{4, 3});
       }},
      {"broadcast_to_batch",
       {{{3}}},
       [](Builder& b, V x) {
         return b.BroadcastTo(x[0], Shape{kBatch, 2, 3});
       }},
      {"concat",
       {{{2, 1}}, {{2, 3}}, {{2, 2}}},
       [](Builder& b, V x) {
         return b.Concat({x[0], x[1], x[2]}, -1);
       }},
      {"concat_axis0",
       {{{1, 3}}, {{2, 3}}},
       [](Builder& b, V x) {
         return b.Concat({x[0], x[1]}, 0);
       }},
      {"slice", {{{3, 6}}}, [](Builder& b, V x) { return b.Slice(x[0], 1, 1, 4); }},
      {"slice_batch_prefix",
       {{{2, 5}, Uniform(-1, 1), true}},
       [](Builder& b, V x) { return b.Slice(x[0], 1, 0, 2); }},
      {"gather",
       {{{5, 3}}, {{4}, Ints({0, 2, 2, 4}), false, DType::kInt32, false}},
       [](Builder& b, V x) { return b.Gather(x[0], x[1]); }},
      {"scatter_add_rows",
       {{{4, 3}}, {{4}, Ints({1, 3, 1, 0}), false, DType::kInt32, false}},
       [](Builder& b, V x) {
         return b.Emit(Op::kScatterAddRows, {x[0], x[1]}, WithShape({5, 3}));
       }},
      {"matmul",
       {{{2, 4}, Uniform(-1, 1), true}, {{4, 3}}},
       [](Builder& b, V x) { return b.MatMul(x[0], x[1]); }},
      {"matmul_ta",
       {{{4, 2}}, {{4, 3}}},
       [](Builder& b, V x) { return b.MatMul(x[0], x[1], true, false); }},
      {"matmul_tb",
       {{{2, 4}}, {{3, 4}}},
       [](Builder& b, V x) { return b.MatMul(x[0], x[1], false, true); }},
      {"matmul_tab",
       {{{4, 2}}, {{3, 4}}},
       [](Builder& b, V x) { return b.MatMul(x[0], x[1], true, true); }},
      {"conv2d_valid",
       {{{1, 5, 5, 2}}, {{3, 3, 2, 3}}},
       [](Builder& b, V x) {
         return b.Conv2D(x[0], x[1], {1, 1}, Padding::kValid);
       }},
      {"conv2d_same_stride2_batch",
       {{{2, 6, 5, 1}, Uniform(-1, 1), true}, {{2, 3, 1, 2}}},
       [](Builder& b, V x) {
         return b.Conv2D(x[0], x[1], {2, 2}, Padding::kSame);
       }},
      {"conv2d_dilated",
       {{{1, 6, 6, 1}}, {{2, 2, 1, 2}}},
       [](Builder& b, V x) {
         return b.Conv2D(x[0], x[1], {1, 1}, Padding::kSame, {2, 2});
       }},
      {"conv2d_backprop_input",
       {{{1, 3, 3, 2}}, {{3, 3, 1, 2}}},
       [](Builder& b, V x) {
         return b.Emit(Op::kConv2DBackpropInput, {x[0], x[1]},
                       ConvAttrs({1, 5, 5, 1}, {2, 2}, Padding::kSame));
       }},
      {"conv2d_backprop_filter",
       {{{1, 5, 5, 1}}, {{1, 3, 3, 2}}},
       [](Builder& b, V x) {
         return b.Emit(Op::kConv2DBackpropFilter, {x[0], x[1]},
                       ConvAttrs({3, 3, 1, 2}, {1, 1}, Padding::kValid));
       }},
      {"max_pool2d_valid",
       {{{1, 4, 4, 2}, Distinct(0.0)}},
       [](Builder& b, V x) {
         return b.MaxPool2D(x[0], {2, 2}, {2, 2}, Padding::kValid);
       }},
      {"max_pool2d_same",
       {{{1, 5, 5, 1}, Distinct(0.0)}},
       [](Builder& b, V x) {
         return b.MaxPool2D(x[0], {3, 3}, {2, 2}, Padding::kSame);
       }},
      {"avg_pool2d_valid",
       {{{2, 4, 4, 1}, Uniform(-1, 1), true}},
       [](Builder& b, V x) {
         return b.AvgPool2D(x[0], {2, 2}, {2, 2}, Padding::kValid);
       }},
      {"avg_pool2d_same",
       {{{1, 5, 5, 2}}},
       [](Builder& b, V x) {
         return b.AvgPool2D(x[0], {3, 3}, {2, 2}, Padding::kSame);
       }},
      {"avg_pool2d_grad",
       {{{1, 3, 3, 1}}},
       [](Builder& b, V x) {
         return b.Emit(Op::kAvgPool2DGrad, {x[0]},
                       PoolAttrs({1, 5, 5, 1}, {3, 3}, {2, 2}, Padding::kSame));
       }},
      {"softmax", {{{2, 4}, Uniform(-2, 2)}}, [](Builder& b, V x) { return b.Softmax(x[0]); }},
      {"log_softmax",
       {{{2, 4}, Uniform(-2, 2)}},
       [](Builder& b, V x) { return b.LogSoftmax(x[0]); }},
      {"softplus", {{{2, 4}, Distinct(0.05)}}, [](Builder& b, V x) { return b.Softplus(x[0]); }},
  };
}

struct BuiltCase {
  Graph graph;
  ValueId out = kNoValue;     // the op's result, as float32
  std::vector<int> wrt_args;  // which args have gradients, in output order
  std::set<Op> forward_ops;   // ops of the forward graph
};

// out = op(args); y = sum(out * w) with w = Input #args.size(). Graph
// outputs: out, then dy/darg for each wrt arg.
BuiltCase Build(const GradCase& c) {
  BuiltCase built;
  Builder b(&built.graph);
  std::vector<ValueId> args;
  for (size_t i = 0; i < c.args.size(); ++i) {
    Shape s = c.args[i].shape;
    if (c.args[i].batched) s.mutable_dims()[0] = kBatch;
    args.push_back(b.Input(static_cast<int64_t>(i), c.args[i].dtype, s));
  }
  ValueId out = b.Cast(c.build(b, args), DType::kFloat32);
  EXPECT_TRUE(b.ok()) << c.name << ": " << b.status();
  if (!b.ok()) return built;
  for (const Node& n : built.graph.nodes()) built.forward_ops.insert(n.op);
  ValueId w = b.Input(static_cast<int64_t>(args.size()), DType::kFloat32, b.shape(out));
  ValueId y = b.SumAll(b.Mul(out, w));
  std::vector<ValueId> wrt;
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (c.args[i].wrt && IsFloating(c.args[i].dtype)) {
      wrt.push_back(args[i]);
      built.wrt_args.push_back(static_cast<int>(i));
    }
  }
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, y, wrt);
  EXPECT_TRUE(grads.ok()) << c.name << ": " << grads.status();
  if (!grads.ok()) return built;
  built.graph.AddOutput(out);
  for (ValueId g : *grads) built.graph.AddOutput(g);
  built.out = out;
  return built;
}

Tensor Fill(DType dtype, const Shape& shape, const Gen& gen, std::mt19937& rng) {
  Tensor t(dtype, shape);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.SetFromDouble(i, gen(i, t.num_elements(), rng));
  return t;
}

double WeightedSum(const Tensor& out, const Tensor& w) {
  double sum = 0;
  for (int64_t i = 0; i < out.num_elements(); ++i) sum += out.GetAsDouble(i) * w.GetAsDouble(i);
  return sum;
}

CompileOptions Options(std::string backend, int64_t max_batch) {
  CompileOptions options;
  options.backend = std::move(backend);
  options.max_batch = max_batch;
  options.verify = true;
  return options;
}

// Each case runs on the reference backend (the oracle) and on the cpu
// backend (with its fusion passes), which training uses.
class GradientCheckTest : public ::testing::TestWithParam<std::tuple<GradCase, std::string>> {};

TEST_P(GradientCheckTest, MatchesCentralDifferences) {
  const GradCase& c = std::get<0>(GetParam());
  BuiltCase built = Build(c);
  ASSERT_NE(built.out, kNoValue);
  absl::StatusOr<std::unique_ptr<Executable>> exe =
      Compile(built.graph, Options(std::get<1>(GetParam()), kTestBatch));
  ASSERT_TRUE(exe.ok()) << exe.status();

  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>()(c.name)));
  std::vector<Tensor> feeds;
  for (const Arg& a : c.args) feeds.push_back(Fill(a.dtype, a.shape, a.gen, rng));
  Shape out_shape = built.graph.node(built.out).shape.Concrete(kTestBatch);
  feeds.push_back(Fill(DType::kFloat32, out_shape, Uniform(-1, 1), rng));
  const Tensor& weights = feeds.back();

  std::vector<Tensor> outputs;
  ASSERT_TRUE((*exe)->Run(feeds, {}, {}, &outputs).ok());
  std::vector<Tensor> analytic(outputs.begin() + 1, outputs.end());
  for (Tensor& t : analytic) t = t.Clone();

  for (size_t k = 0; k < built.wrt_args.size(); ++k) {
    Tensor& x = feeds[static_cast<size_t>(built.wrt_args[k])];
    ASSERT_EQ(analytic[k].shape(), x.shape()) << c.name << " arg " << built.wrt_args[k];
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      double x0 = x.GetAsDouble(i);
      double y[2];
      for (int side = 0; side < 2; ++side) {
        x.SetFromDouble(i, x0 + (side == 0 ? c.eps : -c.eps));
        ASSERT_TRUE((*exe)->Run(feeds, {}, {}, &outputs).ok());
        y[side] = WeightedSum(outputs[0], weights);
      }
      x.SetFromDouble(i, x0);
      double numeric = (y[0] - y[1]) / (2 * c.eps);
      double got = analytic[k].GetAsDouble(i);
      EXPECT_LE(std::abs(got - numeric), 1e-3 + 2e-2 * std::max(std::abs(got), std::abs(numeric)))
          << c.name << ": d/d(arg " << built.wrt_args[k] << ")[" << i << "] autodiff " << got
          << " vs finite difference " << numeric;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllOps, GradientCheckTest,
                         ::testing::Combine(::testing::ValuesIn(Cases()),
                                            ::testing::Values("reference", "cpu")),
                         [](const auto& info) {
                           return std::get<0>(info.param).name + "_" + std::get<1>(info.param);
                         });

TEST(GradientCheckCoverageTest, EveryDifferentiableOpHasACase) {
  std::set<Op> covered;
  for (const GradCase& c : Cases()) {
    BuiltCase built = Build(c);
    covered.insert(built.forward_ops.begin(), built.forward_ops.end());
  }
  for (int i = 0; i < kNumOps; ++i) {
    Op op = static_cast<Op>(i);
    if (GetOpDef(op).grad != nullptr) {
      EXPECT_TRUE(covered.count(op))
          << "no finite-difference case exercises '" << OpName(op) << "'";
    }
  }
}

// Ties are not differentiable, so the FD cases avoid them; the documented
// rule (split evenly) is checked on exact values instead.
TEST(GradientRuleTest, ReduceMaxSplitsTiesEvenly) {
  Graph g;
  Builder b(&g);
  ValueId x = b.Input(0, DType::kFloat32, Shape{4});
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, b.Max(x, {0}), std::vector<ValueId>{x});
  ASSERT_TRUE(grads.ok()) << grads.status();
  g.AddOutput((*grads)[0]);
  absl::StatusOr<std::unique_ptr<Executable>> exe = Compile(g, Options("reference", 1));
  ASSERT_TRUE(exe.ok()) << exe.status();
  std::vector<float> values{1, 3, 3, 0};
  std::vector<Tensor> feeds{Tensor::FromFloats(Shape{4}, values)};
  std::vector<Tensor> outputs;
  ASSERT_TRUE((*exe)->Run(feeds, {}, {}, &outputs).ok());
  std::vector<double> got;
  for (int64_t i = 0; i < 4; ++i) got.push_back(outputs[0].GetAsDouble(i));
  EXPECT_EQ(got, (std::vector<double>{0, 0.5, 0.5, 0}));
}

TEST(GradientRuleTest, MaximumSendsTiesToA) {
  Graph g;
  Builder b(&g);
  ValueId a = b.Input(0, DType::kFloat32, Shape{2});
  ValueId c = b.Input(1, DType::kFloat32, Shape{2});
  absl::StatusOr<std::vector<ValueId>> grads =
      Gradients(b, b.SumAll(b.Maximum(a, c)), std::vector<ValueId>{a, c});
  ASSERT_TRUE(grads.ok()) << grads.status();
  g.set_outputs(*grads);
  absl::StatusOr<std::unique_ptr<Executable>> exe = Compile(g, Options("reference", 1));
  ASSERT_TRUE(exe.ok()) << exe.status();
  std::vector<Tensor> feeds{Tensor::FromFloats(Shape{2}, std::vector<float>{1, 2}),
                            Tensor::FromFloats(Shape{2}, std::vector<float>{1, 5})};
  std::vector<Tensor> outputs;
  ASSERT_TRUE((*exe)->Run(feeds, {}, {}, &outputs).ok());
  EXPECT_EQ(outputs[0].GetAsDouble(0), 1.0);
  EXPECT_EQ(outputs[1].GetAsDouble(0), 0.0);
  EXPECT_EQ(outputs[0].GetAsDouble(1), 0.0);
  EXPECT_EQ(outputs[1].GetAsDouble(1), 1.0);
}

}  // namespace
}  // namespace fornax
