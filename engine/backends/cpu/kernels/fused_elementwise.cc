// FusedElementwise: evaluates a FusedProgram block by block. Each block is a
// run of at most kBlock elements along the collapsed innermost dim; every
// instruction is one vectorizable loop over the block, so a chain of N ops
// reads its inputs once instead of N times. Registers that are uniform over
// a block (constants, zero-stride inputs) stay scalars and are never
// expanded, so bias rows and scalar hyperparameters cost nothing extra.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/backends/cpu/kernels/broadcast.h"
#include "engine/backends/cpu/kernels/kernels.h"
#include "engine/backends/cpu/kernels/threads.h"
#include "engine/base/check.h"
#include "engine/ir/fused_program.h"

namespace fornax::cpu {
namespace {

constexpr int64_t kBlock = 512;
constexpr int64_t kParallelElements = 1 << 14;  // see elementwise.cc

// A register for the current block: either a pointer to n values or a scalar.
struct Reg {
  const float* ptr = nullptr;
  float scalar = 0.0f;
};

template <typename F>
inline void Loop1(const Reg& a, float* y, int64_t n, F f) {
  const float* pa = a.ptr;
  for (int64_t i = 0; i < n; ++i) y[i] = f(pa[i]);
}

template <typename F>
inline void Loop2(const Reg& a, const Reg& b, float* y, int64_t n, F f) {
  if (a.ptr && b.ptr) {
    const float* pa = a.ptr;
    const float* pb = b.ptr;
    for (int64_t i = 0; i < n; ++i) y[i] = f(pa[i], pb[i]);
  } else if (a.ptr) {
    const float* pa = a.ptr;
    const float bv = b.scalar;
    for (int64_t i = 0; i < n; ++i) y[i] = f(pa[i], bv);
  } else {
    const float av = a.scalar;
    const float* pb = b.ptr;
    for (int64_t i = 0; i < n; ++i) y[i] = f(av, pb[i]);
  }
}

inline float At(const Reg& r, int64_t i) { return r.ptr ? r.ptr[i] : r.scalar; }

// y = op(args) over n elements; at least one argument is a vector.
void RunInstr(const FusedProgram::Instr& in, const Reg* a, const Reg* b, const Reg* c, float* y,
              int64_t n) {
  switch (in.op) {
    case Op::kAdd:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u + v; });
    case Op::kSub:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u - v; });
    case Op::kMul:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u * v; });
    case Op::kDiv:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u / v; });
    case Op::kMaximum:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u < v ? v : u; });
    case Op::kMinimum:
      return Loop2(*a, *b, y, n, [](float u, float v) { return v < u ? v : u; });
    case Op::kGreater:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u > v ? 1.0f : 0.0f; });
    case Op::kGreaterEqual:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u >= v ? 1.0f : 0.0f; });
    case Op::kLess:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u < v ? 1.0f : 0.0f; });
    case Op::kLessEqual:
      return Loop2(*a, *b, y, n, [](float u, float v) { return u <= v ? 1.0f : 0.0f; });
    case Op::kNeg:
    case Op::kRelu:
    case Op::kAbs:
    case Op::kSqrt:
    case Op::kRsqrt:
    case Op::kFloor:
      return UnaryLoop(in.op, a->ptr, y, n);
    case Op::kCast:
      if (in.cast_to != DType::kBool) {
        std::copy(a->ptr, a->ptr + n, y);
        return;
      }
      return Loop1(*a, y, n, [](float u) { return u != 0.0f ? 1.0f : 0.0f; });
    case Op::kWhere:
      if (a->ptr) {
        const float* cond = a->ptr;
        if (b->ptr && c->ptr) {
          for (int64_t i = 0; i < n; ++i) y[i] = cond[i] != 0.0f ? b->ptr[i] : c->ptr[i];
        } else if (b->ptr) {
          const float cv = c->scalar;
          for (int64_t i = 0; i < n; ++i) y[i] = cond[i] != 0.0f ? b->ptr[i] : cv;
        } else if (c->ptr) {
          const float bv = b->scalar;
          for (int64_t i = 0; i < n; ++i) y[i] = cond[i] != 0.0f ? bv : c->ptr[i];
        } else {
          const float bv = b->scalar, cv = c->scalar;
          for (int64_t i = 0; i < n; ++i) y[i] = cond[i] != 0.0f ? bv : cv;
        }
      } else {
        const Reg& pick = a->scalar != 0.0f ? *b : *c;
        for (int64_t i = 0; i < n; ++i) y[i] = At(pick, i);
      }
      return;
    default: {
      const Reg zero;
      const Reg& ra = a ? *a : zero;
      const Reg& rb = b ? *b : zero;
      const Reg& rc = c ? *c : zero;
      for (int64_t i = 0; i < n; ++i) {
        y[i] = ApplyScalarOp(in.op, At(ra, i), At(rb, i), At(rc, i), in.cast_to);
      }
      return;
    }
  }
}

// Per-thread scratch: one block buffer per input (for bool conversion) and
// per instruction.
struct Scratch {
  std::vector<float> buf;
  float* slot(int i) { return buf.data() + static_cast<size_t>(i) * kBlock; }
};

}  // namespace

void FusedElementwiseKernel(const KernelContext& ctx) {
  const FusedProgram& prog = *ctx.node.attrs.program;
  FORNAX_CHECK(static_cast<int>(ctx.inputs.size()) == prog.num_inputs);
  if (ctx.output.num_elements() == 0) return;
  std::vector<const Shape*> shapes;
  for (const Tensor& t : ctx.inputs) shapes.push_back(&t.shape());
  const BroadcastPlan plan = MakeBroadcastPlan(ctx.output.shape(), shapes);
  const int64_t inner = plan.inner();
  const int64_t rows = plan.outer();
  const int64_t per_row = (inner + kBlock - 1) / kBlock;
  const int64_t items = rows * per_row;
  const int num_regs = prog.num_registers();
  const int first_result = prog.first_result();
  const int num_instrs = static_cast<int>(prog.instrs.size());
  const bool bool_out = ctx.output.dtype() == DType::kBool;
  float* out_f = bool_out ? nullptr : ctx.output.data<float>();
  uint8_t* out_b = bool_out ? ctx.output.data<uint8_t>() : nullptr;

  ParallelFor(items, rows * inner >= kParallelElements, [&](int64_t first, int64_t last) {
    // Kept per thread across calls: a training step runs dozens of these.
    thread_local Scratch scratch;
    const size_t need = static_cast<size_t>(prog.num_inputs + num_instrs + 1) * kBlock;
    if (scratch.buf.size() < need) scratch.buf.resize(need);
    std::vector<Reg> regs(static_cast<size_t>(num_regs));
    for (size_t k = 0; k < prog.constants.size(); ++k) {
      regs[static_cast<size_t>(prog.first_constant()) + k].scalar = prog.constants[k];
    }
    std::vector<int64_t> offsets(static_cast<size_t>(prog.num_inputs));
    for (int64_t item = first; item < last; ++item) {
      const int64_t row = item / per_row;
      const int64_t begin = (item % per_row) * kBlock;
      const int64_t n = std::min(kBlock, inner - begin);
      plan.RowOffsets(row, offsets);
      for (int i = 0; i < prog.num_inputs; ++i) {
        const Tensor& t = ctx.inputs[static_cast<size_t>(i)];
        const int64_t stride = plan.strides[static_cast<size_t>(i)].back();
        const int64_t start = offsets[static_cast<size_t>(i)] + begin * stride;
        Reg& r = regs[static_cast<size_t>(i)];
        if (t.dtype() == DType::kBool) {
          const uint8_t* src = t.data<uint8_t>() + start;
          if (stride == 0) {
            r = Reg{nullptr, src[0] ? 1.0f : 0.0f};
          } else {
            float* dst = scratch.slot(i);
            for (int64_t e = 0; e < n; ++e) dst[e] = src[e] ? 1.0f : 0.0f;
            r = Reg{dst, 0.0f};
          }
        } else {
          const float* src = t.data<float>() + start;
          r = stride == 0 ? Reg{nullptr, src[0]} : Reg{src, 0.0f};
        }
      }
      for (int k = 0; k < num_instrs; ++k) {
        const FusedProgram::Instr& in = prog.instrs[static_cast<size_t>(k)];
        const Reg* a[3] = {nullptr, nullptr, nullptr};
        bool any_vec = false;
        for (int j = 0; j < 3; ++j) {
          if (in.args[static_cast<size_t>(j)] < 0) continue;
          a[j] = &regs[static_cast<size_t>(in.args[static_cast<size_t>(j)])];
          any_vec |= a[j]->ptr != nullptr;
        }
        Reg& dst = regs[static_cast<size_t>(first_result + k)];
        if (!any_vec) {
          dst = Reg{nullptr,
                    ApplyScalarOp(in.op, a[0] ? a[0]->scalar : 0.0f, a[1] ? a[1]->scalar : 0.0f,
                                  a[2] ? a[2]->scalar : 0.0f, in.cast_to)};
          continue;
        }
        // The last instruction writes straight into a float output.
        float* y = (k == num_instrs - 1 && out_f) ? out_f + row * inner + begin
                                                  : scratch.slot(prog.num_inputs + k);
        RunInstr(in, a[0], a[1], a[2], y, n);
        dst = Reg{y, 0.0f};
      }
      const Reg& result = regs.back();
      if (out_f) {
        float* y = out_f + row * inner + begin;
        if (!result.ptr) std::fill(y, y + n, result.scalar);
      } else {
        uint8_t* y = out_b + row * inner + begin;
        for (int64_t e = 0; e < n; ++e) y[e] = At(result, e) != 0.0f ? 1 : 0;
      }
    }
  });
}

}  // namespace fornax::cpu
