#include "engine/compiler/passes/memory_plan.h"

#include <random>

#include "engine/compiler/compile.h"
#include "engine/ir/builder.h"
#include "engine/runtime/backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using Home = MemoryPlan::Home;

// A random graph over (batch, 4) values: unary and binary elementwise ops,
// reshapes, reductions, matmuls with a variable, and an Assign.
Graph RandomGraph(uint32_t seed) {
  std::mt19937 rng(seed);
  Graph g;
  Builder b(&g);
  std::vector<ValueId> values = {b.Input(0, DType::kFloat32, Shape{kBatch, 4}),
                                 b.Input(1, DType::kFloat32, Shape{kBatch, 4})};
  const ValueId w = b.Variable(0, DType::kFloat32, Shape{4, 4});
  auto pick = [&] {
    return values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)];
  };
  const int num_nodes = std::uniform_int_distribution<int>(5, 40)(rng);
  for (int i = 0; i < num_nodes; ++i) {
    ValueId v = kNoValue;
    switch (std::uniform_int_distribution<int>(0, 6)(rng)) {
      case 0:
        v = b.Unary(std::uniform_int_distribution<int>(0, 1)(rng) ? Op::kTanh : Op::kNeg, pick());
        break;
      case 1:
      case 2:
        v = b.Binary(std::uniform_int_distribution<int>(0, 1)(rng) ? Op::kAdd : Op::kMul, pick(),
                     pick());
        break;
      case 3:
        v = b.Reshape(b.Reshape(pick(), Shape{kBatch, 2, 2}), Shape{kBatch, 4});
        break;
      case 4:
        v = b.Sum(pick(), {1}, /*keepdims=*/true);
        v = b.Add(pick(), v);
        break;
      case 5:
        v = b.MatMul(pick(), w);
        break;
      case 6:
        v = b.Sigmoid(pick());
        break;
    }
    values.push_back(v);
  }
  std::vector<ValueId> outputs;
  for (size_t i = 2; i < values.size(); ++i) {
    if (std::uniform_int_distribution<int>(0, 4)(rng) == 0) outputs.push_back(values[i]);
  }
  outputs.push_back(values.back());
  b.Assign(0, b.MatMul(b.Transpose(values.back(), {1, 0}), values[values.size() / 2]));
  g.set_outputs(outputs);
  EXPECT_TRUE(b.ok()) << b.status();
  return g;
}

// Each arena root is live from its definition to its last use. Two roots
// whose intervals intersect must not overlap in the arena, except an in-place
// output taking over an input block that dies at that very node.
void ExpectNoLiveOverlap(const Graph& g, const MemoryPlan& plan, int64_t max_batch,
                         bool allow_in_place) {
  const Liveness live = ComputeLiveness(g, plan.slots);
  for (ValueId a = 0; a < g.size(); ++a) {
    const MemoryPlan::Slot& sa = plan.slots[static_cast<size_t>(a)];
    if (sa.home != Home::kArena) continue;
    EXPECT_EQ(sa.offset % kArenaAlignment, 0u);
    const size_t bytes_a = static_cast<size_t>(g.node(a).shape.NumElements(max_batch)) * 4;
    EXPECT_LE(sa.offset + bytes_a, plan.arena_bytes);
    for (ValueId b = a + 1; b < g.size(); ++b) {
      const MemoryPlan::Slot& sb = plan.slots[static_cast<size_t>(b)];
      if (sb.home != Home::kArena) continue;
      const int last_a = live.last_use[static_cast<size_t>(a)];
      if (last_a < b) continue;  // a is dead before b is written
      const size_t bytes_b = static_cast<size_t>(g.node(b).shape.NumElements(max_batch)) * 4;
      const bool overlap = sa.offset < sb.offset + bytes_b && sb.offset < sa.offset + bytes_a;
      if (!overlap) continue;
      const bool in_place =
          allow_in_place && last_a == b && sa.offset == sb.offset && CanRunInPlace(g.node(b).op);
      EXPECT_TRUE(in_place) << "%" << a << " and %" << b << " overlap while both live\n"
                            << g.ToString();
    }
  }
}

TEST(MemoryPlanTest, HomesForLeavesAndAliases) {
  Graph g;
  Builder b(&g);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 4});
  const ValueId w = b.Variable(0, DType::kFloat32, Shape{4});
  const ValueId c = b.Scalar(2.0);
  const ValueId r = b.Reshape(x, Shape{kBatch, 2, 2});
  const ValueId y = b.Mul(b.Reshape(r, Shape{kBatch, 4}), c);
  const ValueId a = b.Assign(0, b.Add(w, b.Scalar(1.0)));
  g.set_outputs({y});
  ASSERT_TRUE(b.ok());
  const MemoryPlan plan = PlanMemory(g, 8);
  EXPECT_EQ(plan.slots[static_cast<size_t>(x)].home, Home::kInput);
  EXPECT_EQ(plan.slots[static_cast<size_t>(w)].home, Home::kVariable);
  EXPECT_EQ(plan.slots[static_cast<size_t>(c)].home, Home::kConstant);
  EXPECT_EQ(plan.slots[static_cast<size_t>(r)].home, Home::kAlias);
  EXPECT_EQ(plan.slots[static_cast<size_t>(r)].alias_of, x);
  EXPECT_EQ(plan.slots[static_cast<size_t>(y)].home, Home::kArena);
  EXPECT_EQ(plan.slots[static_cast<size_t>(a)].home, Home::kAlias);
}

TEST(MemoryPlanTest, ChainReusesMemory) {
  // Ten (batch, 256) values in a chain: without in-place, two blocks
  // alternate; with in-place, one block suffices.
  Graph g;
  Builder b(&g);
  ValueId v = b.Input(0, DType::kFloat32, Shape{kBatch, 256});
  v = b.MatMul(v, b.Variable(0, DType::kFloat32, Shape{256, 256}));
  for (int i = 0; i < 10; ++i) v = b.Tanh(v);
  g.set_outputs({v});
  const size_t block = 32 * 256 * 4;
  EXPECT_EQ(PlanMemory(g, 32, {.in_place = false}).arena_bytes, 2 * block);
  EXPECT_EQ(PlanMemory(g, 32).arena_bytes, block);
}

TEST(MemoryPlanTest, OutputsStayLiveToTheEnd) {
  Graph g;
  Builder b(&g);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 16});
  const ValueId early = b.Exp(x);
  const ValueId later = b.Neg(b.Tanh(b.Sigmoid(early)));
  g.set_outputs({early, later});
  const MemoryPlan plan = PlanMemory(g, 4);
  ExpectNoLiveOverlap(g, plan, 4, true);
  for (ValueId v = early + 1; v < g.size(); ++v) {
    EXPECT_NE(plan.slots[static_cast<size_t>(v)].offset,
              plan.slots[static_cast<size_t>(early)].offset);
  }
}

TEST(MemoryPlanTest, RandomGraphsNeverOverlapLiveValues) {
  for (uint32_t seed = 0; seed < 200; ++seed) {
    const Graph g = RandomGraph(seed);
    for (bool in_place : {false, true}) {
      const MemoryPlan plan = PlanMemory(g, 16, {.in_place = in_place});
      ExpectNoLiveOverlap(g, plan, 16, in_place);
      size_t total = 0;
      int arena_values = 0;
      for (ValueId v = 0; v < g.size(); ++v) {
        if (plan.slots[static_cast<size_t>(v)].home != Home::kArena) continue;
        total += (static_cast<size_t>(g.node(v).shape.NumElements(16)) * 4 + 63) / 64 * 64;
        ++arena_values;
      }
      EXPECT_LE(plan.arena_bytes, total);
      if (arena_values > 8 && g.outputs().size() < 3) {
        EXPECT_LT(plan.arena_bytes, total) << seed;
      }
    }
  }
}

// Every value in its own block: nothing shared, the oracle for reuse bugs.
MemoryPlan NoReusePlan(const Graph& g, int64_t max_batch) {
  MemoryPlan plan = PlanMemory(g, max_batch, {.in_place = false, .updates_in_variables = false});
  size_t offset = 0;
  for (ValueId v = 0; v < g.size(); ++v) {
    MemoryPlan::Slot& slot = plan.slots[static_cast<size_t>(v)];
    if (slot.home != Home::kArena) continue;
    slot.offset = offset;
    offset += (static_cast<size_t>(g.node(v).shape.NumElements(max_batch)) * 4 + 63) / 64 * 64;
  }
  plan.arena_bytes = offset;
  return plan;
}

// Also checks that each backend's kernels tolerate in-place outputs.
TEST(MemoryPlanTest, PlannedRunsMatchRunsWithoutReuse) {
  for (const char* name : {"reference", "cpu"}) {
    Backend* backend = *GetBackend(name);
    for (uint32_t seed = 0; seed < 30; ++seed) {
      const Graph g = RandomGraph(seed);
      auto planned = Executable::Create(g, PlanMemory(g, 8), backend, 8);
      auto separate = Executable::Create(g, NoReusePlan(g, 8), backend, 8);
      ASSERT_TRUE(planned.ok() && separate.ok());
      std::mt19937 rng(seed);
      std::uniform_real_distribution<float> dist(-1, 1);
      std::vector<Tensor> inputs = {Tensor(DType::kFloat32, Shape{5, 4}),
                                    Tensor(DType::kFloat32, Shape{5, 4})};
      for (Tensor& t : inputs) {
        for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
      }
      Tensor w(DType::kFloat32, Shape{4, 4});
      for (int64_t i = 0; i < 16; ++i) w.data<float>()[i] = dist(rng) * 0.5f;
      std::vector<Tensor> vars_a = {w.Clone()}, vars_b = {w.Clone()};
      std::vector<Tensor> out_a, out_b;
      ASSERT_TRUE((*planned)->Run(inputs, vars_a, {}, &out_a).ok());
      ASSERT_TRUE((*separate)->Run(inputs, vars_b, {}, &out_b).ok());
      ASSERT_EQ(out_a.size(), out_b.size());
      for (size_t k = 0; k < out_a.size(); ++k)
        EXPECT_TRUE(out_a[k].BitwiseEquals(out_b[k])) << seed;
      EXPECT_TRUE(vars_a[0].BitwiseEquals(vars_b[0])) << seed;
    }
  }
}

}  // namespace
}  // namespace fornax

namespace fornax {
namespace {

// An SGD-with-momentum-like step: m := 0.9 m + g; w := w - 0.1 m_new.
struct UpdateGraph {
  Graph g;
  ValueId m_new, w_new, late_read;
  explicit UpdateGraph(bool read_w_late) {
    Builder b(&g);
    const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 4});
    const ValueId w = b.Variable(0, DType::kFloat32, Shape{4});
    const ValueId m = b.Variable(1, DType::kFloat32, Shape{4});
    const ValueId grad = b.Sum(b.Mul(x, w), {0});
    m_new = b.Add(b.Mul(m, b.Scalar(0.9)), grad);
    w_new = b.Sub(w, b.Mul(m_new, b.Scalar(0.1)));
    late_read = read_w_late ? b.Mul(w, b.Scalar(2.0)) : kNoValue;
    b.Assign(1, m_new);
    b.Assign(0, w_new);
    g.set_outputs({read_w_late ? late_read : grad});
    EXPECT_TRUE(b.ok()) << b.status();
  }
};

TEST(MemoryPlanTest, UpdatesAreComputedInsideTheirVariables) {
  const UpdateGraph u(/*read_w_late=*/false);
  const MemoryPlan plan = PlanMemory(u.g, 8);
  // w_new reads w elementwise at the same position: it may overwrite w.
  EXPECT_EQ(plan.slots[static_cast<size_t>(u.w_new)].home, Home::kVariable);
  EXPECT_EQ(plan.slots[static_cast<size_t>(u.w_new)].variable, 0);
  // m_new = add(mul(m, 0.9), grad): m's last reader is the mul, before m_new.
  EXPECT_EQ(plan.slots[static_cast<size_t>(u.m_new)].home, Home::kVariable);
  EXPECT_EQ(plan.slots[static_cast<size_t>(u.m_new)].variable, 1);
}

TEST(MemoryPlanTest, UpdatesStayInTheArenaWhileTheOldValueIsStillRead) {
  const UpdateGraph u(/*read_w_late=*/true);
  const MemoryPlan plan = PlanMemory(u.g, 8);
  EXPECT_EQ(plan.slots[static_cast<size_t>(u.w_new)].home, Home::kArena);
  EXPECT_EQ(plan.slots[static_cast<size_t>(u.m_new)].home, Home::kVariable);
}

TEST(MemoryPlanTest, InPlaceUpdatesGiveTheSameResults) {
  for (bool late : {false, true}) {
    const UpdateGraph u(late);
    for (const char* name : {"reference", "cpu"}) {
      Backend* backend = *GetBackend(name);
      auto fast = Executable::Create(u.g, PlanMemory(u.g, 8), backend, 8);
      auto plain = Executable::Create(u.g, NoReusePlan(u.g, 8), backend, 8);
      ASSERT_TRUE(fast.ok() && plain.ok());
      const Tensor x = Tensor::FromFloats(Shape{2, 4}, std::vector<float>{1, 2, 3, 4, -1, 0, 1, 2});
      const std::vector<float> w0 = {0.5f, -1, 2, 0.25f}, m0 = {1, 1, -1, 0};
      std::vector<Tensor> va = {Tensor::FromFloats(Shape{4}, w0), Tensor::FromFloats(Shape{4}, m0)};
      std::vector<Tensor> vb = {Tensor::FromFloats(Shape{4}, w0), Tensor::FromFloats(Shape{4}, m0)};
      for (int step = 0; step < 3; ++step) {
        std::vector<Tensor> oa, ob;
        ASSERT_TRUE((*fast)->Run({&x, 1}, va, {}, &oa).ok());
        ASSERT_TRUE((*plain)->Run({&x, 1}, vb, {}, &ob).ok());
        EXPECT_TRUE(oa[0].BitwiseEquals(ob[0]));
        EXPECT_TRUE(va[0].BitwiseEquals(vb[0])) << name << " late=" << late;
        EXPECT_TRUE(va[1].BitwiseEquals(vb[1])) << name << " late=" << late;
      }
    }
  }
}

}  // namespace
}  // namespace fornax

namespace fornax {
namespace {

TEST(MemoryPlanTest, EmptyValuesTakeNoBlock) {
  Graph g;
  Builder b(&g);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 8});
  const ValueId a = b.Exp(x);
  const ValueId empty = b.Slice(a, 1, 3, 3);  // (batch, 0)
  const ValueId c = b.Neg(a);
  g.set_outputs({b.Concat({c, empty}, 1), b.Tanh(empty)});
  ASSERT_TRUE(b.ok()) << b.status();
  const MemoryPlan plan = PlanMemory(g, 4);
  ExpectNoLiveOverlap(g, plan, 4, true);
  // a's block (c = neg(a) takes it over in place) and the concat's.
  EXPECT_EQ(plan.arena_bytes, 2 * 4 * 8 * 4u);
  EXPECT_EQ(plan.slots[static_cast<size_t>(c)].offset, plan.slots[static_cast<size_t>(a)].offset);
}

}  // namespace
}  // namespace fornax
