// The CPU FusedElementwise kernel against FusedProgram::EvalScalar (the
// reference semantics) on broadcast inputs, bool inputs/outputs, and across
// thread counts (results must be bitwise identical).
#include <random>
#include <vector>

#include "engine/backends/cpu/cpu_backend.h"
#include "engine/backends/cpu/kernels/kernels.h"
#include "engine/ir/fused_program.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

Tensor Random(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(static_cast<size_t>(shape.NumElements()));
  for (float& x : v) x = dist(rng);
  return Tensor::FromFloats(shape, v);
}

// Evaluates `prog` element by element with NumPy broadcasting.
Tensor EvalReference(const FusedProgram& prog, const std::vector<Tensor>& inputs, const Shape& out,
                     DType dtype) {
  Tensor result(dtype, out);
  const int rank = out.rank();
  std::vector<int64_t> index(static_cast<size_t>(rank));
  std::vector<float> values(inputs.size());
  for (int64_t i = 0; i < out.NumElements(); ++i) {
    int64_t rest = i;
    for (int d = rank - 1; d >= 0; --d) {
      index[static_cast<size_t>(d)] = rest % out.dim(d);
      rest /= out.dim(d);
    }
    for (size_t k = 0; k < inputs.size(); ++k) {
      const Shape& s = inputs[k].shape();
      int64_t offset = 0;
      for (int d = 0; d < s.rank(); ++d) {
        const int64_t od = index[static_cast<size_t>(rank - s.rank() + d)];
        offset = offset * s.dim(d) + (s.dim(d) == 1 ? 0 : od);
      }
      values[k] = static_cast<float>(inputs[k].GetAsDouble(offset));
    }
    result.SetFromDouble(i, prog.EvalScalar(values));
  }
  return result;
}

Tensor RunFused(std::shared_ptr<const FusedProgram> prog, const std::vector<Tensor>& inputs,
                const Shape& out, DType dtype) {
  Node node;
  node.op = Op::kFusedElementwise;
  node.dtype = dtype;
  node.shape = out;
  node.attrs.program = std::move(prog);
  KernelFn fn = CpuBackend()->FindKernel(node);
  EXPECT_NE(fn, nullptr);
  Tensor result(dtype, out);
  KernelContext ctx{node, inputs, result};
  fn(ctx);
  return result;
}

using Instr = FusedProgram::Instr;

// Adam-style update: m' = b1*m + (1-b1)*g; r = m' / (sqrt(v) + eps) * lr.
std::shared_ptr<FusedProgram> AdamLike() {
  auto p = std::make_shared<FusedProgram>();
  p->num_inputs = 3;                           // m, g, v
  p->constants = {0.9f, 0.1f, 1e-7f, 0.001f};  // r3..r6
  p->instrs = {Instr{Op::kMul, {3, 0, -1}},    // r7 = b1*m
               Instr{Op::kMul, {4, 1, -1}},    // r8 = (1-b1)*g
               Instr{Op::kAdd, {7, 8, -1}},    // r9 = m'
               Instr{Op::kSqrt, {2, -1, -1}},  // r10
               Instr{Op::kAdd, {10, 5, -1}},   // r11
               Instr{Op::kDiv, {9, 11, -1}},   // r12
               Instr{Op::kMul, {12, 6, -1}}};  // r13
  return p;
}

TEST(FusedElementwiseKernelTest, AdamLikeSameShapeMatchesReference) {
  const Shape s{300, 257};
  std::vector<Tensor> in = {Random(s, 1), Random(s, 2), Random(s, 3)};
  for (int64_t i = 0; i < s.NumElements(); ++i) in[2].data<float>()[i] *= in[2].data<float>()[i];
  auto prog = AdamLike();
  Tensor got = RunFused(prog, in, s, DType::kFloat32);
  EXPECT_TRUE(got.BitwiseEquals(EvalReference(*prog, in, s, DType::kFloat32)));
}

TEST(FusedElementwiseKernelTest, ReluGradWithBroadcastBiasAndScalar) {
  // where(x + bias > 0, dy, 0) * scale, x (B, N), bias (N,), dy (B, N), scale ().
  auto p = std::make_shared<FusedProgram>();
  p->num_inputs = 4;
  p->constants = {0.0f};                         // r4
  p->instrs = {Instr{Op::kAdd, {0, 1, -1}},      // r5
               Instr{Op::kGreater, {5, 4, -1}},  // r6
               Instr{Op::kWhere, {6, 2, 4}},     // r7
               Instr{Op::kMul, {7, 3, -1}}};     // r8
  for (int64_t batch : {128, 37}) {
    const Shape s{batch, 600};
    std::vector<Tensor> in = {Random(s, 4), Random(Shape{600}, 5), Random(s, 6),
                              Tensor::Scalar(0.5f)};
    Tensor got = RunFused(p, in, s, DType::kFloat32);
    EXPECT_TRUE(got.BitwiseEquals(EvalReference(*p, in, s, DType::kFloat32)));
  }
}

TEST(FusedElementwiseKernelTest, BoolInputColumnBroadcastAndBoolOutput) {
  // (mask && (x > m)) with mask bool (B, N), x (B, N), m (B, 1) -> bool.
  auto p = std::make_shared<FusedProgram>();
  p->num_inputs = 3;
  p->instrs = {Instr{Op::kGreater, {1, 2, -1}}, Instr{Op::kLogicalAnd, {0, 3, -1}}};
  const Shape s{37, 10};
  Tensor mask(DType::kBool, s);
  for (int64_t i = 0; i < s.NumElements(); ++i) mask.data<uint8_t>()[i] = (i % 3) != 0;
  std::vector<Tensor> in = {mask, Random(s, 7), Random(Shape{37, 1}, 8)};
  Tensor got = RunFused(p, in, s, DType::kBool);
  EXPECT_TRUE(got.BitwiseEquals(EvalReference(*p, in, s, DType::kBool)));
}

TEST(FusedElementwiseKernelTest, AllScalarProgramFillsOutput) {
  auto p = std::make_shared<FusedProgram>();
  p->num_inputs = 1;
  p->constants = {3.0f};
  p->instrs = {Instr{Op::kMul, {0, 1, -1}}, Instr{Op::kExp, {2, -1, -1}}};
  std::vector<Tensor> in = {Tensor::Scalar(0.5f)};
  Tensor got = RunFused(p, in, Shape{4, 5}, DType::kFloat32);
  EXPECT_TRUE(got.BitwiseEquals(EvalReference(*p, in, Shape{4, 5}, DType::kFloat32)));
}

TEST(FusedElementwiseKernelTest, ThreadCountDoesNotChangeResults) {
  const Shape s{512, 300};
  std::vector<Tensor> in = {Random(s, 9), Random(s, 10), Random(s, 11)};
  auto prog = AdamLike();
  CpuBackend()->set_num_threads(1);
  Tensor one = RunFused(prog, in, s, DType::kFloat32);
  CpuBackend()->set_num_threads(2);
  Tensor two = RunFused(prog, in, s, DType::kFloat32);
  CpuBackend()->set_num_threads(0);
  EXPECT_TRUE(one.BitwiseEquals(two));
}

}  // namespace
}  // namespace fornax
