// End to end through the executor: a small CNN train step (conv, pool,
// dense, dropout, softmax cross-entropy, autodiff, SGD via Assign) compiled
// for each backend. Checks that training converges, that backends agree, and
// that a seeded run is bit-for-bit repeatable.
#include <cmath>
#include <random>

#include "engine/autodiff/autodiff.h"
#include "engine/compiler/compile.h"
#include "engine/ir/builder.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

constexpr int64_t kBatchSize = 16;

// Variables: conv w (3,3,1,4), conv b (4), dense w (36,3), dense b (3).
Graph TrainStep() {
  Graph g;
  Builder b(&g);
  const ValueId x = b.Input(0, DType::kFloat32, Shape{kBatch, 6, 6, 1});
  const ValueId labels = b.Input(1, DType::kInt32, Shape{kBatch});
  const std::vector<ValueId> vars = {
      b.Variable(0, DType::kFloat32, Shape{3, 3, 1, 4}), b.Variable(1, DType::kFloat32, Shape{4}),
      b.Variable(2, DType::kFloat32, Shape{36, 3}), b.Variable(3, DType::kFloat32, Shape{3})};
  ValueId h = b.Relu(b.Add(b.Conv2D(x, vars[0], {1, 1}, Padding::kSame), vars[1]));
  h = b.MaxPool2D(h, {2, 2}, {2, 2}, Padding::kValid);
  h = b.Reshape(h, Shape{kBatch, 36});
  // Dropout 0.25 with the inverse scaling.
  const ValueId keep =
      b.Cast(b.Binary(Op::kGreaterEqual, b.RandomUniform(Shape{kBatch, 36}, 0), b.Scalar(0.25)),
             DType::kFloat32);
  h = b.Mul(h, b.Mul(keep, b.Scalar(1 / 0.75)));
  const ValueId logits = b.Add(b.MatMul(h, vars[2]), vars[3]);
  const ValueId loss =
      b.MeanAll(b.Neg(b.Sum(b.Mul(b.OneHot(labels, 3), b.LogSoftmax(logits)), {1})));
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, loss, vars);
  EXPECT_TRUE(grads.ok()) << grads.status();
  for (size_t i = 0; i < vars.size(); ++i) {
    b.Assign(static_cast<int64_t>(i), b.Sub(vars[i], b.Mul((*grads)[i], b.Scalar(0.1))));
  }
  g.set_outputs({loss});
  EXPECT_TRUE(b.ok()) << b.status();
  return g;
}

struct Data {
  Tensor x{DType::kFloat32, Shape{kBatchSize, 6, 6, 1}};
  Tensor labels{DType::kInt32, Shape{kBatchSize}};
  Data() {
    // Class k: a bright 2x2 blob in region k; plus noise.
    std::mt19937 rng(5);
    std::normal_distribution<float> noise(0, 0.1f);
    for (int64_t n = 0; n < kBatchSize; ++n) {
      const int32_t k = static_cast<int32_t>(n % 3);
      labels.data<int32_t>()[n] = k;
      for (int64_t i = 0; i < 36; ++i) {
        const int64_t r = i / 6, c = i % 6;
        const bool blob = r / 2 == k && c / 2 == k;
        x.data<float>()[n * 36 + i] = (blob ? 1.0f : 0.0f) + noise(rng);
      }
    }
  }
};

std::vector<Tensor> InitialVariables() {
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0, 0.3f);
  std::vector<Tensor> vars = {
      Tensor(DType::kFloat32, Shape{3, 3, 1, 4}), Tensor(DType::kFloat32, Shape{4}),
      Tensor(DType::kFloat32, Shape{36, 3}), Tensor(DType::kFloat32, Shape{3})};
  for (Tensor& v : vars) {
    for (int64_t i = 0; i < v.num_elements(); ++i) v.data<float>()[i] = dist(rng);
  }
  return vars;
}

// Trains `steps` steps; returns the losses.
std::vector<float> Train(const std::string& backend, int steps, std::vector<Tensor>* vars,
                         uint64_t seed = 1) {
  CompileOptions options;
  options.backend = backend;
  options.max_batch = kBatchSize;
  options.verify = true;
  auto exe = Compile(TrainStep(), options);
  EXPECT_TRUE(exe.ok()) << exe.status();
  if (!exe.ok()) return {};
  const Data data;
  const std::vector<Tensor> inputs = {data.x, data.labels};
  std::vector<float> losses;
  for (int step = 0; step < steps; ++step) {
    std::vector<Tensor> out;
    const absl::Status s = (*exe)->Run(inputs, *vars, RunOptions{seed, step}, &out);
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) break;
    losses.push_back(out[0].data<float>()[0]);
  }
  return losses;
}

TEST(TrainStepTest, ConvergesAndBackendsAgree) {
  std::vector<Tensor> ref_vars = InitialVariables();
  std::vector<Tensor> cpu_vars = InitialVariables();
  const std::vector<float> ref = Train("reference", 60, &ref_vars);
  const std::vector<float> cpu = Train("cpu", 60, &cpu_vars);
  ASSERT_EQ(ref.size(), 60u);
  ASSERT_EQ(cpu.size(), 60u);
  EXPECT_LT(ref.back(), 0.5f * ref.front());
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_NEAR(cpu[i], ref[i], 1e-3f * (1 + std::fabs(ref[i]))) << i;
  for (size_t v = 0; v < ref_vars.size(); ++v) {
    for (int64_t i = 0; i < ref_vars[v].num_elements(); ++i) {
      EXPECT_NEAR(cpu_vars[v].data<float>()[i], ref_vars[v].data<float>()[i], 2e-3f)
          << v << "[" << i << "]";
    }
  }
}

TEST(TrainStepTest, SameSeedIsBitIdenticalAndOtherSeedsDiffer) {
  std::vector<Tensor> a = InitialVariables(), b = InitialVariables(), c = InitialVariables();
  Train("cpu", 5, &a, 3);
  Train("cpu", 5, &b, 3);
  Train("cpu", 5, &c, 4);
  for (size_t v = 0; v < a.size(); ++v) EXPECT_TRUE(a[v].BitwiseEquals(b[v])) << v;
  EXPECT_FALSE(a[2].BitwiseEquals(c[2]));
}

}  // namespace
}  // namespace fornax
