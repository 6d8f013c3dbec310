// Reference kernels for leaves and side effects: Constant, RandomUniform,
// DimSize, Assign. (Input and Variable are bound by the executor.)
#include <cstring>

#include "engine/backends/reference/kernel_table.h"
#include "engine/runtime/philox.h"

namespace fornax::reference {
namespace {

// Copies `from` into `to` unless they already share storage.
void CopyIfDistinct(const Tensor& from, Tensor& to) {
  if (from.raw_data() == to.raw_data()) return;
  std::memmove(to.raw_data(), from.raw_data(), to.byte_size());
}

void ConstantKernel(const KernelContext& ctx) { CopyIfDistinct(ctx.node.attrs.value, ctx.output); }

void RandomUniformKernel(const KernelContext& ctx) {
  FillUniform(ctx.seed, static_cast<uint64_t>(ctx.step),
              static_cast<uint32_t>(ctx.node.attrs.index), 0, ctx.output.num_elements(),
              ctx.output.data<float>());
}

void DimSizeKernel(const KernelContext& ctx) {
  *ctx.output.data<float>() = static_cast<float>(ctx.inputs[0].shape().dim(
      static_cast<int>(ctx.node.attrs.axis < 0 ? ctx.node.attrs.axis + ctx.inputs[0].shape().rank()
                                               : ctx.node.attrs.axis)));
}

// The output is the input; the executor writes the variable.
void AssignKernel(const KernelContext& ctx) { CopyIfDistinct(ctx.inputs[0], ctx.output); }

}  // namespace

void RegisterMiscKernels(KernelTable& t) {
  Register(t, Op::kConstant, ConstantKernel);
  Register(t, Op::kRandomUniform, RandomUniformKernel);
  Register(t, Op::kDimSize, DimSizeKernel);
  Register(t, Op::kAssign, AssignKernel);
}

}  // namespace fornax::reference
