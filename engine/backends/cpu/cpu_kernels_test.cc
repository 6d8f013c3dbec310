// The CPU backend's kernels against the reference kernels on random data,
// including a short last batch (the primitive caches must key on shapes).
#include <cmath>
#include <random>
#include <vector>

#include "engine/backends/cpu/cpu_backend.h"
#include "engine/backends/cpu/kernels/kernels.h"
#include "engine/backends/reference/reference_backend.h"
#include "engine/ir/fused_program.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

Tensor Random(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape.NumElements()));
  for (float& x : v) x = dist(rng);
  return Tensor::FromFloats(shape, v);
}

// Small integers: pooling windows then contain ties.
Tensor RandomInts(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-2, 2);
  std::vector<float> v(static_cast<size_t>(shape.NumElements()));
  for (float& x : v) x = static_cast<float>(dist(rng));
  return Tensor::FromFloats(shape, v);
}

Node MakeNode(Op op, const Shape& out, Attrs attrs = {}, DType dtype = DType::kFloat32) {
  Node node;
  node.op = op;
  node.dtype = dtype;
  node.shape = out;
  node.attrs = std::move(attrs);
  return node;
}

Tensor Run(KernelFn fn, const Node& node, const std::vector<Tensor>& inputs) {
  EXPECT_NE(fn, nullptr) << OpName(node.op);
  Tensor out(node.dtype, node.shape);
  KernelContext ctx{node, inputs, out};
  fn(ctx);
  return out;
}

Tensor RunCpu(const Node& node, const std::vector<Tensor>& inputs) {
  return Run(CpuBackend()->FindKernel(node), node, inputs);
}

Tensor RunRef(const Node& node, const std::vector<Tensor>& inputs) {
  return Run(ReferenceKernel(node.op), node, inputs);
}

void ExpectNear(const Tensor& got, const Tensor& want, float tol) {
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < got.num_elements(); ++i) {
    const double g = got.GetAsDouble(i);
    const double w = want.GetAsDouble(i);
    ASSERT_NEAR(g, w, tol * (1.0 + std::fabs(w))) << "element " << i;
  }
}

TEST(CpuBackendTest, NameCapsAndFallback) {
  Backend* cpu = CpuBackend();
  EXPECT_EQ(cpu->name(), "cpu");
  EXPECT_TRUE(cpu->caps().fused_elementwise && cpu->caps().fused_matmul &&
              cpu->caps().fused_conv2d);
  EXPECT_EQ(cpu->FindKernel(MakeNode(Op::kTranspose, Shape{2, 3})), nullptr);
  EXPECT_EQ(cpu->FindKernel(MakeNode(Op::kAdd, Shape{2}, {}, DType::kInt32)), nullptr);
  EXPECT_EQ(cpu->FindKernel(MakeNode(Op::kLogicalAnd, Shape{2}, {}, DType::kBool)), nullptr);
  EXPECT_NE(cpu->FindKernel(MakeNode(Op::kMatMul, Shape{2, 3})), nullptr);
}

TEST(CpuKernelsTest, MatMulAllTransposesAndShortBatch) {
  for (int64_t m : {128, 37}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        const int64_t k = 70, n = 33;
        Attrs attrs;
        attrs.transpose_a = ta;
        attrs.transpose_b = tb;
        Tensor a = Random(ta ? Shape{k, m} : Shape{m, k}, 1);
        Tensor b = Random(tb ? Shape{n, k} : Shape{k, n}, 2);
        Node node = MakeNode(Op::kMatMul, Shape{m, n}, attrs);
        ExpectNear(RunCpu(node, {a, b}), RunRef(node, {a, b}), 1e-5f);
      }
    }
  }
}

// FusedMatMul equals reference matmul, then bias add, then the epilogue.
TEST(CpuKernelsTest, FusedMatMulBiasAndEpilogue) {
  const int64_t m = 37, k = 50, n = 20;
  Tensor a = Random(Shape{m, k}, 3);
  Tensor b = Random(Shape{k, n}, 4);
  for (Shape bias_shape : {Shape{n}, Shape{1, n}}) {
    for (std::vector<Op> epilogue : {std::vector<Op>{}, std::vector<Op>{Op::kRelu},
                                     std::vector<Op>{Op::kSigmoid}, std::vector<Op>{Op::kTanh}}) {
      Tensor bias = Random(bias_shape, 5);
      Attrs attrs;
      attrs.has_bias = true;
      attrs.epilogue = epilogue;
      Tensor got = RunCpu(MakeNode(Op::kFusedMatMul, Shape{m, n}, attrs), {a, b, bias});
      Tensor want = RunRef(MakeNode(Op::kMatMul, Shape{m, n}), {a, b});
      want = RunRef(MakeNode(Op::kAdd, Shape{m, n}), {want, bias});
      for (Op op : epilogue) want = RunRef(MakeNode(op, Shape{m, n}), {want});
      ExpectNear(got, want, 1e-5f);
    }
  }
}

struct ConvCase {
  int64_t batch, h, w, c, kh, kw, o;
  std::array<int64_t, 2> strides, dilation;
  Padding padding;
};

Shape ConvOut(const ConvCase& t) {
  auto out = [&](int64_t in, int64_t k, int64_t s, int64_t d) {
    const int64_t extent = (k - 1) * d + 1;
    return t.padding == Padding::kSame ? (in + s - 1) / s : (in - extent) / s + 1;
  };
  return Shape{t.batch, out(t.h, t.kh, t.strides[0], t.dilation[0]),
               out(t.w, t.kw, t.strides[1], t.dilation[1]), t.o};
}

std::vector<ConvCase> ConvCases() {
  return {{8, 28, 28, 1, 3, 3, 32, {1, 1}, {1, 1}, Padding::kValid},
          {5, 13, 13, 32, 3, 3, 64, {1, 1}, {1, 1}, Padding::kValid},
          {3, 9, 10, 4, 3, 3, 8, {2, 2}, {1, 1}, Padding::kSame},
          {3, 8, 8, 3, 5, 4, 6, {1, 2}, {1, 1}, Padding::kSame},
          {2, 11, 11, 3, 3, 3, 5, {1, 1}, {2, 2}, Padding::kSame}};
}

Attrs ConvAttrs(const ConvCase& t) {
  Attrs attrs;
  attrs.strides = t.strides;
  attrs.dilation = t.dilation;
  attrs.padding = t.padding;
  return attrs;
}

TEST(CpuKernelsTest, Conv2DForwardAndBackprops) {
  uint32_t seed = 10;
  for (const ConvCase& t : ConvCases()) {
    const Shape xs{t.batch, t.h, t.w, t.c}, ws{t.kh, t.kw, t.c, t.o}, ys = ConvOut(t);
    Tensor x = Random(xs, ++seed), w = Random(ws, ++seed), dy = Random(ys, ++seed);
    Attrs attrs = ConvAttrs(t);
    Node fwd = MakeNode(Op::kConv2D, ys, attrs);
    ExpectNear(RunCpu(fwd, {x, w}), RunRef(fwd, {x, w}), 1e-4f);
    attrs.shape = xs;
    Node bwd_in = MakeNode(Op::kConv2DBackpropInput, xs, attrs);
    ExpectNear(RunCpu(bwd_in, {dy, w}), RunRef(bwd_in, {dy, w}), 1e-4f);
    attrs.shape = ws;
    Node bwd_w = MakeNode(Op::kConv2DBackpropFilter, ws, attrs);
    ExpectNear(RunCpu(bwd_w, {x, dy}), RunRef(bwd_w, {x, dy}), 1e-4f);
  }
}

TEST(CpuKernelsTest, FusedConv2DBiasEpilogueAndShortBatch) {
  for (int64_t batch : {16, 7}) {  // the second reuses nothing from the first's cache entry
    ConvCase t{batch, 12, 12, 3, 3, 3, 8, {1, 1}, {1, 1}, Padding::kSame};
    const Shape xs{t.batch, t.h, t.w, t.c}, ws{t.kh, t.kw, t.c, t.o}, ys = ConvOut(t);
    Tensor x = Random(xs, 20), w = Random(ws, 21), bias = Random(Shape{t.o}, 22);
    // Relu maps to a oneDNN post-op; Erf does not and runs as our own loop.
    for (std::vector<Op> epilogue : {std::vector<Op>{Op::kRelu}, std::vector<Op>{Op::kErf}}) {
      Attrs attrs = ConvAttrs(t);
      attrs.has_bias = true;
      attrs.epilogue = epilogue;
      Tensor got = RunCpu(MakeNode(Op::kFusedConv2D, ys, attrs), {x, w, bias});
      Tensor want = RunRef(MakeNode(Op::kConv2D, ys, ConvAttrs(t)), {x, w});
      want = RunRef(MakeNode(Op::kAdd, ys), {want, bias});
      for (Op op : epilogue) want = RunRef(MakeNode(op, ys), {want});
      ExpectNear(got, want, 1e-4f);
    }
  }
}

// Inference runs take Winograd where oneDNN has it (3x3, stride 1, channels
// a multiple of 16), with an epilogue oneDNN fuses and one it does not; the
// transformed filter is reused only while the filter is unchanged.
TEST(CpuKernelsTest, InferenceConv2DWinograd) {
  for (int64_t batch : {1, 8}) {
    ConvCase t{batch, 13, 13, 32, 3, 3, 64, {1, 1}, {1, 1}, Padding::kValid};
    const Shape xs{t.batch, t.h, t.w, t.c}, ws{t.kh, t.kw, t.c, t.o}, ys = ConvOut(t);
    Tensor x = Random(xs, 30), bias = Random(Shape{t.o}, 32);
    for (std::vector<Op> epilogue : {std::vector<Op>{Op::kRelu}, std::vector<Op>{Op::kErf}}) {
      Attrs attrs = ConvAttrs(t);
      attrs.has_bias = true;
      attrs.epilogue = epilogue;
      const Node node = MakeNode(Op::kFusedConv2D, ys, attrs);
      for (uint32_t seed : {31u, 33u}) {  // the second call's filter differs
        Tensor w = Random(ws, seed);
        Tensor got(DType::kFloat32, ys);
        const std::vector<Tensor> inputs = {x, w, bias};
        CpuBackend()->FindKernel(node)(
            KernelContext{node, inputs, got, 0, 0, 1, /*inference=*/true});
        Tensor want = RunRef(MakeNode(Op::kConv2D, ys, ConvAttrs(t)), {x, w});
        want = RunRef(MakeNode(Op::kAdd, ys), {want, bias});
        for (Op op : epilogue) want = RunRef(MakeNode(op, ys), {want});
        ExpectNear(got, want, 1e-4f);
      }
    }
  }
}

TEST(CpuKernelsTest, PoolingForwardAndGradWithTies) {
  struct PoolCase {
    Shape x, y;
    std::array<int64_t, 2> window, strides;
    Padding padding;
  };
  const std::vector<PoolCase> cases = {
      {Shape{4, 26, 26, 32}, Shape{4, 13, 13, 32}, {2, 2}, {2, 2}, Padding::kValid},
      {Shape{3, 11, 11, 5}, Shape{3, 5, 5, 5}, {2, 2}, {2, 2}, Padding::kValid},
      {Shape{2, 7, 9, 3}, Shape{2, 4, 5, 3}, {3, 3}, {2, 2}, Padding::kSame},
      {Shape{2, 7, 9, 3}, Shape{2, 4, 5, 3}, {2, 2}, {2, 2}, Padding::kSame},
      {Shape{2, 7, 9, 8}, Shape{2, 4, 5, 8}, {2, 2}, {2, 2}, Padding::kSame},
      {Shape{2, 7, 9, 16}, Shape{2, 3, 4, 16}, {3, 3}, {2, 2}, Padding::kValid},
      {Shape{2, 8, 7, 3}, Shape{2, 2, 2, 3}, {3, 3}, {3, 3}, Padding::kValid},
      {Shape{2, 6, 6, 4}, Shape{2, 6, 6, 4}, {3, 3}, {1, 1}, Padding::kSame}};
  uint32_t seed = 30;
  for (const PoolCase& t : cases) {
    Attrs attrs;
    attrs.window = t.window;
    attrs.strides = t.strides;
    attrs.padding = t.padding;
    Tensor x = RandomInts(t.x, ++seed), dy = Random(t.y, ++seed);
    for (Op op : {Op::kMaxPool2D, Op::kAvgPool2D}) {
      Node node = MakeNode(op, t.y, attrs);
      ExpectNear(RunCpu(node, {x}), RunRef(node, {x}), 1e-6f);
    }
    Node max_grad = MakeNode(Op::kMaxPool2DGrad, t.x, attrs);
    ExpectNear(RunCpu(max_grad, {x, dy}), RunRef(max_grad, {x, dy}), 1e-6f);
    Attrs avg_attrs = attrs;
    avg_attrs.shape = t.x;
    Node avg_grad = MakeNode(Op::kAvgPool2DGrad, t.x, avg_attrs);
    ExpectNear(RunCpu(avg_grad, {dy}), RunRef(avg_grad, {dy}), 1e-6f);
  }
}

TEST(CpuKernelsTest, UnaryOps) {
  Tensor x = Random(Shape{37, 129}, 40, -3.0f, 3.0f);
  Tensor pos = Random(Shape{37, 129}, 41, 0.1f, 4.0f);
  for (Op op : {Op::kNeg, Op::kExp, Op::kTanh, Op::kSigmoid, Op::kRelu, Op::kAbs, Op::kSign,
                Op::kErf, Op::kFloor}) {
    Node node = MakeNode(op, x.shape());
    ExpectNear(RunCpu(node, {x}), RunRef(node, {x}), 1e-6f);
  }
  for (Op op : {Op::kLog, Op::kLog1p, Op::kSqrt, Op::kRsqrt}) {
    Node node = MakeNode(op, pos.shape());
    ExpectNear(RunCpu(node, {pos}), RunRef(node, {pos}), 1e-6f);
  }
}

TEST(CpuKernelsTest, BinaryOpsWithBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {Shape{300, 257}, Shape{300, 257}},  // large enough to run threaded
      {Shape{37, 20}, Shape{20}},          // bias row
      {Shape{37, 20}, Shape{37, 1}},       // per-row scalar
      {Shape{1}, Shape{37, 20}},          {Shape{}, Shape{5, 3}},
      {Shape{4, 1, 6}, Shape{1, 5, 6}},   {Shape{4, 5, 1}, Shape{5, 6}}};
  uint32_t seed = 50;
  for (const auto& [sa, sb] : shapes) {
    Tensor a = Random(sa, ++seed, 0.5f, 2.0f), b = Random(sb, ++seed, 0.5f, 2.0f);
    Shape out = *BroadcastShapes(sa, sb);
    for (Op op : {Op::kAdd, Op::kSub, Op::kMul, Op::kDiv, Op::kMaximum, Op::kMinimum, Op::kPow}) {
      Node node = MakeNode(op, out);
      ExpectNear(RunCpu(node, {a, b}), RunRef(node, {a, b}), 1e-6f);
      ExpectNear(RunCpu(node, {b, a}), RunRef(node, {b, a}), 1e-6f);
    }
  }
}

TEST(CpuKernelsTest, ComparisonsToBool) {
  Tensor a = RandomInts(Shape{37, 20}, 70), b = RandomInts(Shape{20}, 71);
  for (Op op :
       {Op::kGreater, Op::kGreaterEqual, Op::kLess, Op::kLessEqual, Op::kEqual, Op::kNotEqual}) {
    Node node = MakeNode(op, Shape{37, 20}, {}, DType::kBool);
    EXPECT_TRUE(RunCpu(node, {a, b}).BitwiseEquals(RunRef(node, {a, b}))) << OpName(op);
    EXPECT_TRUE(RunCpu(node, {b, a}).BitwiseEquals(RunRef(node, {b, a}))) << OpName(op);
  }
  Tensor ints = Tensor::FromInts(Shape{3}, std::vector<int32_t>{1, 2, 3});
  Node node = MakeNode(Op::kGreater, Shape{3}, {}, DType::kBool);  // int inputs: reference path
  EXPECT_TRUE(RunCpu(node, {ints, ints}).BitwiseEquals(RunRef(node, {ints, ints})));
}

TEST(CpuKernelsTest, ReductionsOverContiguousAxes) {
  struct ReduceCase {
    Shape in;
    std::vector<int64_t> axes;
    bool keepdims;
  };
  const std::vector<ReduceCase> cases = {{Shape{128, 256}, {0}, false},
                                         {Shape{37, 50}, {0}, true},
                                         {Shape{37, 50}, {1}, false},
                                         {Shape{37, 10}, {1}, true},
                                         {Shape{4, 5, 6, 7}, {1, 2}, false},
                                         {Shape{4, 5, 6}, {0, 1, 2}, false},
                                         {Shape{16, 26, 26, 32}, {0, 1, 2}, false}};  // tall
  uint32_t seed = 60;
  for (const ReduceCase& t : cases) {
    Tensor x = Random(t.in, ++seed);
    std::vector<int64_t> dims;
    for (int d = 0; d < t.in.rank(); ++d) {
      const bool reduced = std::find(t.axes.begin(), t.axes.end(), d) != t.axes.end();
      if (!reduced) dims.push_back(t.in.dim(d));
      if (reduced && t.keepdims) dims.push_back(1);
    }
    Attrs attrs;
    attrs.axes = t.axes;
    attrs.keepdims = t.keepdims;
    for (Op op : {Op::kReduceSum, Op::kReduceMean, Op::kReduceMax}) {
      Node node = MakeNode(op, Shape(dims), attrs);
      ExpectNear(RunCpu(node, {x}), RunRef(node, {x}), 1e-4f);
    }
  }
}

// The threaded paths (sgemm, conv, pooling, tall reductions, elementwise)
// against the reference with two threads.
TEST(CpuKernelsTest, TwoThreadsMatchReference) {
  CpuBackend()->set_num_threads(2);
  Tensor a = Random(Shape{128, 300}, 80), b = Random(Shape{300, 256}, 81);
  Node mm = MakeNode(Op::kMatMul, Shape{128, 256});
  ExpectNear(RunCpu(mm, {a, b}), RunRef(mm, {a, b}), 1e-5f);
  for (bool ta : {false, true}) {  // K much larger than M and N: split-K
    for (bool tb : {false, true}) {
      const int64_t m = 64, k = 800, n = 100;
      Attrs attrs;
      attrs.transpose_a = ta;
      attrs.transpose_b = tb;
      Tensor ka = Random(ta ? Shape{k, m} : Shape{m, k}, 88);
      Tensor kb = Random(tb ? Shape{n, k} : Shape{k, n}, 89);
      Node node = MakeNode(Op::kMatMul, Shape{m, n}, attrs);
      ExpectNear(RunCpu(node, {ka, kb}), RunRef(node, {ka, kb}), 1e-5f);
    }
  }
  ConvCase t{16, 13, 13, 32, 3, 3, 64, {1, 1}, {1, 1}, Padding::kValid};
  const Shape xs{t.batch, t.h, t.w, t.c}, ws{t.kh, t.kw, t.c, t.o}, ys = ConvOut(t);
  Tensor x = Random(xs, 82), w = Random(ws, 83), dy = Random(ys, 84);
  Node conv = MakeNode(Op::kConv2D, ys, ConvAttrs(t));
  ExpectNear(RunCpu(conv, {x, w}), RunRef(conv, {x, w}), 1e-4f);
  Attrs filter_attrs = ConvAttrs(t);
  filter_attrs.shape = ws;
  Node filter = MakeNode(Op::kConv2DBackpropFilter, ws, filter_attrs);
  ExpectNear(RunCpu(filter, {x, dy}), RunRef(filter, {x, dy}), 1e-4f);
  Attrs pool;
  pool.window = {2, 2};
  pool.strides = {2, 2};
  Tensor img = RandomInts(Shape{16, 26, 26, 32}, 85), dpool = Random(Shape{16, 13, 13, 32}, 86);
  Node max_grad = MakeNode(Op::kMaxPool2DGrad, img.shape(), pool);
  ExpectNear(RunCpu(max_grad, {img, dpool}), RunRef(max_grad, {img, dpool}), 1e-6f);
  Attrs sum;
  sum.axes = {0, 1, 2};
  Node reduce = MakeNode(Op::kReduceSum, Shape{32}, sum);
  ExpectNear(RunCpu(reduce, {img}), RunRef(reduce, {img}), 1e-5f);
  Node add = MakeNode(Op::kAdd, Shape{300, 256});
  Tensor bias = Random(Shape{256}, 87);
  ExpectNear(RunCpu(add, {b, bias}), RunRef(add, {b, bias}), 0.0f);
  CpuBackend()->set_num_threads(0);
}

}  // namespace
}  // namespace fornax
