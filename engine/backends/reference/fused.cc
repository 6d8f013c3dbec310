// Reference kernels for the ops the fusion passes make: FusedElementwise
// (a FusedProgram evaluated per element, inputs broadcast to the output) and
// FusedMatMul / FusedConv2D (the plain op, then + bias along the last dim,
// then attrs.epilogue's unary ops in order). Float semantics come from
// engine/ir/fused_program.h, so fused and unfused graphs agree.
#include <vector>

#include "engine/backends/reference/kernel_table.h"
#include "engine/backends/reference/kernel_util.h"
#include "engine/base/check.h"
#include "engine/ir/fused_program.h"

namespace fornax::reference {
namespace {

float LoadAsFloat(const Tensor& t, int64_t i) {
  return IsFloating(t.dtype()) ? LoadFloat(t, i) : static_cast<float>(LoadInt(t, i));
}

void FusedElementwiseKernel(const KernelContext& ctx) {
  const FusedProgram& program = *ctx.node.attrs.program;
  Tensor& y = ctx.output;
  const size_t num_inputs = ctx.inputs.size();
  FORNAX_CHECK(static_cast<int>(num_inputs) == program.num_inputs);
  std::vector<std::vector<int64_t>> strides;
  for (const Tensor& in : ctx.inputs) strides.push_back(BroadcastStrides(y.shape(), in.shape()));
  const int rank = y.shape().rank();
  std::vector<int64_t> counter(static_cast<size_t>(rank), 0);
  std::vector<int64_t> offsets(num_inputs, 0);
  std::vector<float> values(num_inputs);
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    for (size_t k = 0; k < num_inputs; ++k) values[k] = LoadAsFloat(ctx.inputs[k], offsets[k]);
    const float v = program.EvalScalar(values);
    if (y.dtype() == DType::kBool) {
      y.data<uint8_t>()[i] = v != 0.0f ? 1 : 0;
    } else {
      StoreFloat(y, i, v);
    }
    for (int d = rank - 1; d >= 0; --d) {
      const size_t ud = static_cast<size_t>(d);
      ++counter[ud];
      for (size_t k = 0; k < num_inputs; ++k) offsets[k] += strides[k][ud];
      if (counter[ud] < y.shape().dim(d)) break;
      for (size_t k = 0; k < num_inputs; ++k) offsets[k] -= strides[k][ud] * counter[ud];
      counter[ud] = 0;
    }
  }
}

// After the plain op wrote the output: + bias (inputs[2]) then the epilogue.
void ApplyBiasAndEpilogue(const KernelContext& ctx) {
  Tensor& y = ctx.output;
  const Attrs& a = ctx.node.attrs;
  const int64_t channels = y.shape().dim(y.shape().rank() - 1);
  for (int64_t i = 0; i < y.num_elements(); ++i) {
    float v = LoadFloat(y, i);
    if (a.has_bias) v += LoadFloat(ctx.inputs[2], i % channels);
    for (Op op : a.epilogue) v = ApplyScalarOp(op, v);
    StoreFloat(y, i, v);
  }
}

template <KernelFn kPlain>
void FusedLinearKernel(const KernelContext& ctx) {
  kPlain(KernelContext{ctx.node, ctx.inputs.first(2), ctx.output, ctx.seed, ctx.step,
                       ctx.num_threads});
  ApplyBiasAndEpilogue(ctx);
}

}  // namespace

void RegisterFusedKernels(KernelTable& t) {
  Register(t, Op::kFusedElementwise, FusedElementwiseKernel);
  Register(t, Op::kFusedMatMul, FusedLinearKernel<MatMulKernel>);
  Register(t, Op::kFusedConv2D, FusedLinearKernel<Conv2DKernel>);
}

}  // namespace fornax::reference
