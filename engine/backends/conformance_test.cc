// Op conformance: every op's kernel on every host backend against the
// reference kernel, on random inputs (ggml's test-backend-ops). Ops a backend
// has no kernel for are skipped (the executor falls back to the reference).
// Ops the memory planner may run in place (CanRunInPlace) are also run with
// the output written over their first same-shaped input.
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "engine/backends/reference/reference_backend.h"
#include "engine/compiler/passes/memory_plan.h"
#include "engine/ir/builder.h"
#include "engine/ir/fused_program.h"
#include "engine/runtime/backend.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

struct OpCase {
  std::string label;
  // Emits the op under test on Inputs; returns it (inputs are made from the
  // Input nodes' dtypes and shapes).
  std::function<ValueId(Builder&)> emit;
  float lo = -2, hi = 2;  // range of random float inputs
};

ValueId In(Builder& b, int64_t index, Shape shape, DType dtype = DType::kFloat32) {
  return b.Input(index, dtype, std::move(shape));
}

std::vector<OpCase> Cases() {
  std::vector<OpCase> cases;
  auto add = [&](std::string label, std::function<ValueId(Builder&)> emit, float lo = -2,
                 float hi = 2) {
    cases.push_back({std::move(label), std::move(emit), lo, hi});
  };
  for (Op op : {Op::kNeg, Op::kExp, Op::kTanh, Op::kSigmoid, Op::kRelu, Op::kAbs, Op::kSign,
                Op::kErf, Op::kFloor}) {
    add(std::string(OpName(op)), [op](Builder& b) { return b.Unary(op, In(b, 0, Shape{5, 33})); });
  }
  for (Op op : {Op::kLog, Op::kLog1p, Op::kSqrt, Op::kRsqrt}) {
    add(
        std::string(OpName(op)),
        [op](Builder& b) {
          return b.Unary(op, In(b, 0, Shape{5, 33}));
        },
        0.1f, 3);
  }
  add("is_finite", [](Builder& b) { return b.Unary(Op::kIsFinite, In(b, 0, Shape{7})); });
  add("logical_not",
      [](Builder& b) { return b.Unary(Op::kLogicalNot, In(b, 0, Shape{9}, DType::kBool)); });
  for (Op op : {Op::kAdd, Op::kSub, Op::kMul, Op::kDiv, Op::kMaximum, Op::kMinimum, Op::kGreater,
                Op::kGreaterEqual, Op::kLess, Op::kLessEqual, Op::kEqual, Op::kNotEqual}) {
    add(std::string(OpName(op)) + " same", [op](Builder& b) {
      return b.Binary(op, In(b, 0, Shape{6, 35}), In(b, 1, Shape{6, 35}));
    });
    add(std::string(OpName(op)) + " broadcast", [op](Builder& b) {
      return b.Binary(op, In(b, 0, Shape{4, 1, 19}), In(b, 1, Shape{3, 1}));
    });
    add(std::string(OpName(op)) + " scalar", [op](Builder& b) {
      return b.Binary(op, In(b, 0, Shape{}), In(b, 1, Shape{2, 17}));
    });
  }
  for (Op op : {Op::kAdd, Op::kSub, Op::kMul, Op::kMaximum, Op::kMinimum}) {
    add(std::string(OpName(op)) + " int32", [op](Builder& b) {
      return b.Binary(op, In(b, 0, Shape{3, 4}, DType::kInt32), In(b, 1, Shape{4}, DType::kInt32));
    });
  }
  add(
      "pow",
      [](Builder& b) {
        return b.Pow(In(b, 0, Shape{3, 8}), In(b, 1, Shape{8}));
      },
      0.1f, 2);
  for (Op op : {Op::kLogicalAnd, Op::kLogicalOr}) {
    add(std::string(OpName(op)), [op](Builder& b) {
      return b.Binary(op, In(b, 0, Shape{2, 5}, DType::kBool), In(b, 1, Shape{5}, DType::kBool));
    });
  }
  add("where", [](Builder& b) {
    return b.Where(In(b, 0, Shape{3, 1}, DType::kBool), In(b, 1, Shape{3, 6}), In(b, 2, Shape{6}));
  });
  for (DType to : {DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kBool}) {
    add("cast to " + std::string(DTypeName(to)), [to](Builder& b) {
      return b.Cast(In(b, 0, Shape{4, 9}), to);
    });
  }
  add("cast int32 to float32",
      [](Builder& b) { return b.Cast(In(b, 0, Shape{10}, DType::kInt32), DType::kFloat32); });
  for (std::vector<int64_t> axes :
       std::vector<std::vector<int64_t>>{{0}, {1}, {2}, {0, 2}, {1, 2}}) {
    for (bool keepdims : {false, true}) {
      const std::string suffix = " axes " + std::to_string(axes.size()) + "/" +
                                 std::to_string(axes[0]) + (keepdims ? " keep" : "");
      add("reduce_sum" + suffix, [=](Builder& b) {
        return b.Sum(In(b, 0, Shape{3, 5, 7}), axes, keepdims);
      });
      add("reduce_mean" + suffix, [=](Builder& b) {
        return b.Mean(In(b, 0, Shape{3, 5, 7}), axes, keepdims);
      });
      add("reduce_max" + suffix, [=](Builder& b) {
        return b.Max(In(b, 0, Shape{3, 5, 7}), axes, keepdims);
      });
    }
  }
  add("argmax", [](Builder& b) { return b.ArgMax(In(b, 0, Shape{4, 10}), 1); });
  add("reshape", [](Builder& b) { return b.Reshape(In(b, 0, Shape{4, 6}), Shape{2, 12}); });
  add("transpose", [](Builder& b) { return b.Transpose(In(b, 0, Shape{2, 3, 4}), {2, 0, 1}); });
  add("broadcast_to", [](Builder& b) {
    return b.BroadcastTo(In(b, 0, Shape{3, 1}), Shape{2, 3, 5});
  });
  add("concat", [](Builder& b) {
    return b.Concat({In(b, 0, Shape{2, 3}), In(b, 1, Shape{2, 5})}, 1);
  });
  add("slice", [](Builder& b) { return b.Slice(In(b, 0, Shape{3, 10}), 1, 2, 7); });
  add("dim_size", [](Builder& b) { return b.DimSize(In(b, 0, Shape{3, 10}), 1); });
  add("one_hot", [](Builder& b) { return b.OneHot(In(b, 0, Shape{6}, DType::kInt32), 4); });
  add("gather", [](Builder& b) {
    return b.Gather(In(b, 0, Shape{5, 3}), In(b, 1, Shape{2, 3}, DType::kInt32));
  });
  add("random_uniform", [](Builder& b) { return b.RandomUniform(Shape{3, 7}, 5); });
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      add(std::string("matmul ") + (ta ? "T" : "N") + (tb ? "T" : "N"), [=](Builder& b) {
        return b.MatMul(In(b, 0, ta ? Shape{7, 5} : Shape{5, 7}),
                        In(b, 1, tb ? Shape{9, 7} : Shape{7, 9}), ta, tb);
      });
    }
  }
  for (Padding padding : {Padding::kValid, Padding::kSame}) {
    for (int64_t stride : {1, 2}) {
      const std::string suffix = std::string(padding == Padding::kSame ? " same" : " valid") +
                                 " s" + std::to_string(stride);
      add("conv2d" + suffix, [=](Builder& b) {
        return b.Conv2D(In(b, 0, Shape{2, 7, 6, 3}), In(b, 1, Shape{3, 3, 3, 4}), {stride, stride},
                        padding);
      });
      add("max_pool2d" + suffix, [=](Builder& b) {
        return b.MaxPool2D(In(b, 0, Shape{2, 7, 6, 3}), {3, 3}, {stride, stride}, padding);
      });
      add("avg_pool2d" + suffix, [=](Builder& b) {
        return b.AvgPool2D(In(b, 0, Shape{2, 7, 6, 3}), {3, 3}, {stride, stride}, padding);
      });
    }
  }
  add("conv2d dilated", [](Builder& b) {
    return b.Conv2D(In(b, 0, Shape{1, 8, 8, 2}), In(b, 1, Shape{3, 3, 2, 2}), {1, 1},
                    Padding::kSame, {2, 2});
  });
  return cases;
}

// Node-level cases for ops the builder does not emit directly.
std::vector<std::pair<Node, std::vector<Shape>>> NodeCases() {
  std::vector<std::pair<Node, std::vector<Shape>>> cases;
  auto node = [](Op op, Shape out, auto&& set) {
    Node n;
    n.op = op;
    n.shape = std::move(out);
    set(n.attrs);
    return n;
  };
  const Shape x{2, 7, 6, 3}, w{3, 3, 3, 4}, dy{2, 7, 6, 4};
  cases.push_back({node(Op::kConv2DBackpropInput, x,
                        [](Attrs& a) {
                          a.padding = Padding::kSame;
                          a.shape = Shape{2, 7, 6, 3};
                        }),
                   {dy, w}});
  cases.push_back({node(Op::kConv2DBackpropFilter, w,
                        [](Attrs& a) {
                          a.padding = Padding::kSame;
                          a.shape = Shape{3, 3, 3, 4};
                        }),
                   {x, dy}});
  auto pool = [](Attrs& a) {
    a.window = {2, 2};
    a.strides = {2, 2};
    a.shape = Shape{2, 7, 6, 3};
  };
  cases.push_back({node(Op::kMaxPool2DGrad, x, pool), {x, Shape{2, 3, 3, 3}}});
  cases.push_back({node(Op::kAvgPool2DGrad, x, pool), {Shape{2, 3, 3, 3}}});
  cases.push_back({node(Op::kFusedMatMul, Shape{5, 9},
                        [](Attrs& a) {
                          a.has_bias = true;
                          a.epilogue = {Op::kRelu};
                        }),
                   {Shape{5, 7}, Shape{7, 9}, Shape{9}}});
  cases.push_back({node(Op::kFusedConv2D, dy,
                        [](Attrs& a) {
                          a.padding = Padding::kSame;
                          a.has_bias = true;
                          a.epilogue = {Op::kTanh};
                        }),
                   {x, w, Shape{4}}});
  auto program = std::make_shared<FusedProgram>();
  program->num_inputs = 3;
  program->constants = {0.5f};
  program->instrs = {{Op::kMul, {0, 3, -1}}, {Op::kAdd, {4, 1, -1}}, {Op::kMaximum, {5, 2, -1}}};
  cases.push_back({node(Op::kFusedElementwise, Shape{4, 6}, [&](Attrs& a) { a.program = program; }),
                   {Shape{4, 6}, Shape{6}, Shape{}}});
  return cases;
}

Tensor RandomTensor(DType dtype, const Shape& shape, std::mt19937& rng, float lo, float hi) {
  Tensor t(dtype, shape);
  std::uniform_real_distribution<float> real(lo, hi);
  std::uniform_int_distribution<int> small(0, 4);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (dtype == DType::kBool) {
      t.SetFromDouble(i, small(rng) % 2);
    } else if (IsInteger(dtype)) {
      t.SetFromDouble(i, small(rng));
    } else {
      // Some exact ties and equal values for comparisons, max and argmax.
      t.SetFromDouble(i, small(rng) == 0 ? 1.0f : real(rng));
    }
  }
  return t;
}

Tensor RunKernel(KernelFn kernel, const Node& node, const std::vector<Tensor>& inputs) {
  Tensor out(node.dtype, node.shape);
  kernel(KernelContext{node, inputs, out, 17, 3, 1});
  return out;
}

void ExpectClose(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.shape(), want.shape()) << what;
  for (int64_t i = 0; i < want.num_elements(); ++i) {
    const double g = got.GetAsDouble(i), w = want.GetAsDouble(i);
    if (std::isnan(w)) {
      EXPECT_TRUE(std::isnan(g)) << what << " element " << i;
    } else {
      ASSERT_NEAR(g, w, 1e-5 * (1 + std::fabs(w))) << what << " element " << i;
    }
  }
}

// Runs `node` on `backend` against the reference; and, when the planner may
// run it in place, with the output written over a same-shaped input.
void Check(Backend* backend, const Node& node, const std::vector<Tensor>& inputs,
           const std::string& label) {
  const KernelFn kernel = backend->FindKernel(node);
  if (kernel == nullptr) return;
  const std::string what = std::string(backend->name()) + " " + label;
  const Tensor want = RunKernel(ReferenceKernel(node.op), node, inputs);
  ExpectClose(RunKernel(kernel, node, inputs), want, what);
  if (!CanRunInPlace(node.op)) return;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k].shape() != node.shape || inputs[k].dtype() != node.dtype) continue;
    std::vector<Tensor> copies;
    for (const Tensor& t : inputs) copies.push_back(t.Clone());
    Tensor out = copies[k];  // shares storage with input k
    kernel(KernelContext{node, copies, out, 17, 3, 1});
    ExpectClose(out, want, what + " in place over input " + std::to_string(k));
  }
}

class ConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceTest, EveryKernelMatchesTheReference) {
  Backend* backend = *GetBackend(GetParam());
  std::mt19937 rng(123);
  for (const OpCase& c : Cases()) {
    Graph g;
    Builder b(&g);
    const ValueId y = c.emit(b);
    ASSERT_TRUE(b.ok()) << c.label << ": " << b.status();
    std::vector<Tensor> inputs;
    for (ValueId in : g.node(y).inputs) {
      const Node& n = g.node(in);
      inputs.push_back(RandomTensor(n.dtype, n.shape, rng, c.lo, c.hi));
    }
    Check(backend, g.node(y), inputs, c.label);
  }
  for (const auto& [node, shapes] : NodeCases()) {
    std::vector<Tensor> inputs;
    for (const Shape& s : shapes) inputs.push_back(RandomTensor(DType::kFloat32, s, rng, -2, 2));
    Check(backend, node, inputs, std::string(OpName(node.op)));
  }
}

INSTANTIATE_TEST_SUITE_P(HostBackends, ConformanceTest, ::testing::Values("cpu"));

}  // namespace
}  // namespace fornax
