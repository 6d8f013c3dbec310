// Conv2D / FusedConv2D and their backprops through oneDNN convolutions.
//
// Activations stay NHWC and filters HWIO in our buffers (the IR's layouts).
// oneDNN picks its own blocked filter layout ("any"); the small filter tensor
// is reordered per call, which is far cheaper than running the convolution on
// a plain layout. Primitives are created once per (shape, epilogue, threads)
// and cached: creation costs milliseconds, execution microseconds. Padding
// follows TF/Keras 'same': pad_before = total / 2, the rest after.
//
// Inference runs (KernelContext::inference: predict, never training) use
// Winograd convolution where oneDNN has it (3x3, stride 1, channel counts
// that are multiples of 16): it needs blocked activations, so the input and
// output are reordered per call, and still takes about 20 instead of 26 us
// per sample for the Fashion-MNIST CNN's 32->64-channel 3x3 convolution on
// 13x13 at batch 64 (22 vs 23.5 at batch 1). Its results differ from the
// direct convolution's by about 1e-6 relative at the layer (7.5e-8 on that
// CNN's softmax outputs), which is why training keeps the direct one.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <unordered_map>
#include <vector>

#include "engine/backends/cpu/kernels/kernels.h"
#include "engine/base/check.h"

namespace fornax::cpu {
namespace {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;
constexpr auto kF32 = dnnl::memory::data_type::f32;

dnnl::engine& Engine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

struct ConvGeometry {
  int64_t n, h, w, ic, kh, kw, oc, oh, ow;
  memory::dims strides, dilates, pad_l, pad_r;

  memory::desc src() const { return memory::desc({n, ic, h, w}, kF32, Tag::nhwc); }
  memory::desc dst() const { return memory::desc({n, oc, oh, ow}, kF32, Tag::nhwc); }
  memory::desc weights(Tag tag) const { return memory::desc({oc, ic, kh, kw}, kF32, tag); }
  memory::desc bias() const { return memory::desc({oc}, kF32, Tag::x); }
};

int64_t PadBefore(const Node& node, int axis, int64_t in, int64_t out, int64_t k) {
  if (node.attrs.padding != Padding::kSame) return 0;
  const int64_t extent = (k - 1) * node.attrs.dilation[static_cast<size_t>(axis)] + 1;
  return std::max<int64_t>((out - 1) * node.attrs.strides[static_cast<size_t>(axis)] + extent - in,
                           0) /
         2;
}

// x and y are NHWC, w is HWIO.
ConvGeometry MakeGeometry(const Node& node, const Shape& x, const Shape& w, const Shape& y) {
  ConvGeometry g;
  g.n = x.dim(0);
  g.h = x.dim(1);
  g.w = x.dim(2);
  g.ic = x.dim(3);
  g.kh = w.dim(0);
  g.kw = w.dim(1);
  g.oc = w.dim(3);
  g.oh = y.dim(1);
  g.ow = y.dim(2);
  const auto& s = node.attrs.strides;
  const auto& d = node.attrs.dilation;
  g.strides = {s[0], s[1]};
  g.dilates = {d[0] - 1, d[1] - 1};
  const int64_t pt = PadBefore(node, 0, g.h, g.oh, g.kh);
  const int64_t pl = PadBefore(node, 1, g.w, g.ow, g.kw);
  // The pad after makes oneDNN's output size formula give exactly oh/ow.
  const int64_t ext_h = (g.kh - 1) * d[0] + 1;
  const int64_t ext_w = (g.kw - 1) * d[1] + 1;
  g.pad_l = {pt, pl};
  g.pad_r = {(g.oh - 1) * s[0] + ext_h - g.h - pt, (g.ow - 1) * s[1] + ext_w - g.w - pl};
  return g;
}

// The forward's bias and epilogue; the backprops have neither.
struct Epilogue {
  bool has_bias = false;
  std::vector<Op> ops;
};

std::vector<int64_t> Key(int kind, const ConvGeometry& g, const Epilogue& epilogue) {
  std::vector<int64_t> key = {kind,         g.n,          g.h,          g.w,          g.ic,
                              g.kh,         g.kw,         g.oc,         g.oh,         g.ow,
                              g.strides[0], g.strides[1], g.dilates[0], g.dilates[1], g.pad_l[0],
                              g.pad_l[1],   g.pad_r[0],   g.pad_r[1],   NumThreads()};
  key.push_back(epilogue.has_bias ? 1 : 0);
  for (Op op : epilogue.ops) key.push_back(static_cast<int64_t>(op));
  return key;
}

std::optional<dnnl::algorithm> EltwiseFor(Op op, float* alpha) {
  *alpha = 0.0f;
  switch (op) {
    case Op::kRelu:
      return dnnl::algorithm::eltwise_relu;
    case Op::kSigmoid:
      return dnnl::algorithm::eltwise_logistic;
    case Op::kTanh:
      return dnnl::algorithm::eltwise_tanh;
    case Op::kExp:
      return dnnl::algorithm::eltwise_exp;
    case Op::kAbs:
      return dnnl::algorithm::eltwise_abs;
    case Op::kSqrt:
      return dnnl::algorithm::eltwise_sqrt;
    case Op::kLog:
      return dnnl::algorithm::eltwise_log;
    case Op::kNeg:
      *alpha = -1.0f;
      return dnnl::algorithm::eltwise_linear;
    default:
      return std::nullopt;
  }
}

// The memory a call needs only while it runs (its primitives' scratchpad,
// Winograd's blocked input and output), lent by a process-wide pool.
// oneDNN's default ("library") scratchpad belongs to the thread that created
// the primitive: run on another thread it finds that thread's scratchpad, or
// none, and crashes. Serving creates a plan's primitives on the loading
// thread and runs them on request threads, so every primitive here is
// created in user mode (attr from UserScratchpad) and runs with a scratchpad
// lent for the call. Lent, not owned by each cache entry: the cache keeps an
// entry for every batch size seen, and owned buffers added up (the Fashion
// CNN served one request of each of 1, 4, ..., 301 rows: 1515 MiB RSS with
// owned scratchpads and blocked activations; the Winograd convolution's
// scratchpad alone takes up to 41 MiB), while the pool holds one buffer per
// call running at once, grown to the largest need.
class CallBuffer {
 public:
  explicit CallBuffer(size_t bytes) {
    if (bytes == 0) return;
    {
      std::lock_guard<std::mutex> lock(PoolMutex());
      if (!Pool().empty()) {
        buffer_ = std::move(Pool().back());
        Pool().pop_back();
      }
    }
    if (buffer_.bytes < bytes) {
      constexpr size_t kAlign = 4096;
      buffer_.bytes = (bytes + kAlign - 1) / kAlign * kAlign;
      buffer_.data.reset(std::aligned_alloc(kAlign, buffer_.bytes));
      FORNAX_CHECK(buffer_.data != nullptr);
    }
  }
  ~CallBuffer() {
    if (buffer_.data == nullptr) return;
    std::lock_guard<std::mutex> lock(PoolMutex());
    Pool().push_back(std::move(buffer_));
  }
  CallBuffer(const CallBuffer&) = delete;
  CallBuffer& operator=(const CallBuffer&) = delete;

  char* data() const { return static_cast<char*>(buffer_.data.get()); }

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  struct Buffer {
    size_t bytes = 0;
    std::unique_ptr<void, Free> data;
  };
  static std::mutex& PoolMutex() {
    static auto* mu = new std::mutex();
    return *mu;
  }
  static std::vector<Buffer>& Pool() {
    static auto* pool = new std::vector<Buffer>();
    return *pool;
  }
  Buffer buffer_;
};

// A primitive and the scratchpad it needs (empty when none). Primitives of
// one call run one after another, so they share the call's scratchpad.
struct Primitive {
  dnnl::primitive primitive;
  memory::desc scratchpad;

  template <typename P, typename Pd>
  static Primitive Create(const Pd& pd) {
    return Primitive{P(pd), pd.scratchpad_desc()};
  }
  static Primitive Reorder(const memory::desc& from, const memory::desc& to);

  void Execute(dnnl::stream& stream, std::unordered_map<int, memory> args, char* scratch) const {
    if (scratchpad.get_size() > 0) {
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(scratchpad, Engine(), scratch));
    }
    primitive.execute(stream, args);
  }
  void Execute(dnnl::stream& stream, const memory& from, const memory& to, char* scratch) const {
    Execute(stream, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}, scratch);
  }
};

dnnl::primitive_attr UserScratchpad(dnnl::primitive_attr attr = dnnl::primitive_attr()) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

Primitive Primitive::Reorder(const memory::desc& from, const memory::desc& to) {
  return Create<dnnl::reorder>(
      dnnl::reorder::primitive_desc(Engine(), from, Engine(), to, UserScratchpad()));
}

size_t Aligned(size_t bytes) { return (bytes + 63) / 64 * 64; }

// One cached convolution: the primitive, the reorder between our plain filter
// and oneDNN's blocked one, and that blocked filter's buffer.
struct ConvEntry {
  std::mutex mu;  // guards the blocked filter during a call
  Primitive conv;
  std::optional<Primitive> weights_reorder;
  std::optional<memory> blocked_weights;
  // Winograd: the layouts of the blocked input and output (in the call's
  // buffer) and their reorders from and to NHWC, and the plain filter last
  // transformed (the transform takes longer than a batch-64 convolution, so
  // it runs only when the filter changed). Layouts are empty otherwise.
  std::optional<Primitive> src_reorder, dst_reorder;
  memory::desc blocked_src, blocked_dst;
  std::vector<char> transformed_filter;
  bool manual_epilogue = false;

  // A call's buffer: the blocked input and output, then the scratchpad
  // (the largest of its primitives').
  size_t ScratchpadOffset() const {
    return Aligned(blocked_src.get_size()) + Aligned(blocked_dst.get_size());
  }
  size_t CallBytes() const {
    size_t scratchpad = conv.scratchpad.get_size();
    for (const std::optional<Primitive>* p : {&weights_reorder, &src_reorder, &dst_reorder}) {
      if (*p) scratchpad = std::max(scratchpad, (*p)->scratchpad.get_size());
    }
    return ScratchpadOffset() + scratchpad;
  }
};

std::mutex g_cache_mu;
std::map<std::vector<int64_t>, std::unique_ptr<ConvEntry>>& Cache() {
  static auto* cache = new std::map<std::vector<int64_t>, std::unique_ptr<ConvEntry>>();
  return *cache;
}

// Winograd: blocked ("any") activations and inference; else NHWC. An empty
// descriptor when oneDNN has no Winograd kernel for `g`.
dnnl::convolution_forward::primitive_desc ForwardPd(const ConvGeometry& g, bool bias,
                                                    const dnnl::primitive_attr& attr,
                                                    bool winograd = false) {
  const auto prop =
      winograd ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training;
  const auto alg =
      winograd ? dnnl::algorithm::convolution_winograd : dnnl::algorithm::convolution_direct;
  const memory::desc src = winograd ? memory::desc({g.n, g.ic, g.h, g.w}, kF32, Tag::any) : g.src();
  const memory::desc dst =
      winograd ? memory::desc({g.n, g.oc, g.oh, g.ow}, kF32, Tag::any) : g.dst();
  dnnl::convolution_forward::desc desc =
      bias ? dnnl::convolution_forward::desc(prop, alg, src, g.weights(Tag::any), g.bias(), dst,
                                             g.strides, g.dilates, g.pad_l, g.pad_r)
           : dnnl::convolution_forward::desc(prop, alg, src, g.weights(Tag::any), dst, g.strides,
                                             g.dilates, g.pad_l, g.pad_r);
  return dnnl::convolution_forward::primitive_desc(desc, UserScratchpad(attr), Engine(),
                                                   /*allow_empty=*/winograd);
}

bool WinogradShape(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.strides == memory::dims{1, 1} &&
         g.dilates == memory::dims{0, 0} && g.ic % 16 == 0 && g.oc % 16 == 0;
}

// kind: 0 forward, 1 backward data, 2 backward weights, 3 forward for
// inference (Winograd when oneDNN has it for `g`, else as 0).
ConvEntry* GetEntry(int kind, const ConvGeometry& g, const Epilogue& epilogue) {
  std::lock_guard<std::mutex> lock(g_cache_mu);
  auto& slot = Cache()[Key(kind, g, epilogue)];
  if (slot) return slot.get();
  auto entry = std::make_unique<ConvEntry>();
  const memory::desc hwio = g.weights(Tag::hwio);
  memory::desc blocked;
  if (kind == 0 || kind == 3) {
    dnnl::post_ops ops;
    for (Op op : epilogue.ops) {
      float alpha;
      auto alg = EltwiseFor(op, &alpha);
      if (!alg) {
        entry->manual_epilogue = true;
        break;
      }
      ops.append_eltwise(1.0f, *alg, alpha, 0.0f);
    }
    dnnl::primitive_attr attr;
    if (!entry->manual_epilogue) attr.set_post_ops(ops);
    // An empty descriptor: oneDNN has no Winograd kernel for `g`.
    auto pd = ForwardPd(g, epilogue.has_bias, attr, /*winograd=*/kind == 3);
    if (kind == 3 && pd) {
      entry->blocked_src = pd.src_desc();
      entry->blocked_dst = pd.dst_desc();
      entry->src_reorder = Primitive::Reorder(g.src(), entry->blocked_src);
      entry->dst_reorder = Primitive::Reorder(entry->blocked_dst, g.dst());
    } else {
      pd = ForwardPd(g, epilogue.has_bias, attr);
    }
    entry->conv = Primitive::Create<dnnl::convolution_forward>(pd);
    blocked = pd.weights_desc();
  } else {
    auto hint = ForwardPd(g, false, dnnl::primitive_attr());
    if (kind == 1) {
      dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, g.src(),
                                                 g.weights(Tag::any), g.dst(), g.strides, g.dilates,
                                                 g.pad_l, g.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(desc, UserScratchpad(), Engine(), hint);
      entry->conv = Primitive::Create<dnnl::convolution_backward_data>(pd);
      blocked = pd.weights_desc();
    } else {
      dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, g.src(),
                                                    g.weights(Tag::any), g.dst(), g.strides,
                                                    g.dilates, g.pad_l, g.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(desc, UserScratchpad(), Engine(), hint);
      entry->conv = Primitive::Create<dnnl::convolution_backward_weights>(pd);
      blocked = pd.diff_weights_desc();
    }
  }
  if (blocked != hwio) {
    entry->blocked_weights = memory(blocked, Engine());
    entry->weights_reorder =
        kind == 2 ? Primitive::Reorder(blocked, hwio) : Primitive::Reorder(hwio, blocked);
  }
  slot = std::move(entry);
  return slot.get();
}

memory Wrap(const memory::desc& md, const void* data) {
  return memory(md, Engine(), const_cast<void*>(data));
}

void SyncThreads() {
  if (omp_get_max_threads() != NumThreads()) omp_set_num_threads(NumThreads());
}

}  // namespace

void Conv2DKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Tensor& w = ctx.inputs[1];
  if (ctx.output.num_elements() == 0) return;
  SyncThreads();
  const ConvGeometry g = MakeGeometry(ctx.node, x.shape(), w.shape(), ctx.output.shape());
  const bool fused = ctx.node.op == Op::kFusedConv2D;
  const Epilogue epilogue =
      fused ? Epilogue{ctx.node.attrs.has_bias, ctx.node.attrs.epilogue} : Epilogue{};
  ConvEntry* e = GetEntry(ctx.inference && WinogradShape(g) ? 3 : 0, g, epilogue);
  std::lock_guard<std::mutex> lock(e->mu);
  dnnl::stream stream(Engine());
  const CallBuffer buffer(e->CallBytes());
  char* const scratch = buffer.data() + e->ScratchpadOffset();
  const bool winograd = e->src_reorder.has_value();
  memory weights = Wrap(g.weights(Tag::hwio), w.raw_data());
  if (e->weights_reorder) {
    const char* filter = static_cast<const char*>(w.raw_data());
    if (!winograd || e->transformed_filter.size() != w.byte_size() ||
        std::memcmp(e->transformed_filter.data(), filter, w.byte_size()) != 0) {
      e->weights_reorder->Execute(stream, weights, *e->blocked_weights, scratch);
      if (winograd) e->transformed_filter.assign(filter, filter + w.byte_size());
    }
    weights = *e->blocked_weights;
  }
  memory src = Wrap(g.src(), x.raw_data());
  memory dst = Wrap(g.dst(), ctx.output.raw_data());
  memory conv_src = src;
  memory conv_dst = dst;
  if (winograd) {
    conv_src = memory(e->blocked_src, Engine(), buffer.data());
    conv_dst = memory(e->blocked_dst, Engine(), buffer.data() + Aligned(e->blocked_src.get_size()));
    e->src_reorder->Execute(stream, src, conv_src, scratch);
  }
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, conv_src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, conv_dst}};
  if (fused && ctx.node.attrs.has_bias) {
    args.emplace(DNNL_ARG_BIAS, Wrap(g.bias(), ctx.inputs[2].raw_data()));
  }
  e->conv.Execute(stream, std::move(args), scratch);
  if (winograd) e->dst_reorder->Execute(stream, conv_dst, dst, scratch);
  stream.wait();
  if (fused && e->manual_epilogue) {
    float* y = ctx.output.data<float>();
    for (Op op : ctx.node.attrs.epilogue) UnaryLoop(op, y, y, ctx.output.num_elements());
  }
}

void Conv2DBackpropInputKernel(const KernelContext& ctx) {
  const Tensor& dy = ctx.inputs[0];
  const Tensor& w = ctx.inputs[1];
  if (ctx.output.num_elements() == 0) return;
  SyncThreads();
  const ConvGeometry g = MakeGeometry(ctx.node, ctx.output.shape(), w.shape(), dy.shape());
  ConvEntry* e = GetEntry(1, g, Epilogue{});
  std::lock_guard<std::mutex> lock(e->mu);
  dnnl::stream stream(Engine());
  const CallBuffer buffer(e->CallBytes());
  char* const scratch = buffer.data() + e->ScratchpadOffset();
  memory weights = Wrap(g.weights(Tag::hwio), w.raw_data());
  if (e->weights_reorder) {
    e->weights_reorder->Execute(stream, weights, *e->blocked_weights, scratch);
    weights = *e->blocked_weights;
  }
  e->conv.Execute(stream,
                  {{DNNL_ARG_DIFF_DST, Wrap(g.dst(), dy.raw_data())},
                   {DNNL_ARG_WEIGHTS, weights},
                   {DNNL_ARG_DIFF_SRC, Wrap(g.src(), ctx.output.raw_data())}},
                  scratch);
  stream.wait();
}

void Conv2DBackpropFilterKernel(const KernelContext& ctx) {
  const Tensor& x = ctx.inputs[0];
  const Tensor& dy = ctx.inputs[1];
  SyncThreads();
  const ConvGeometry g = MakeGeometry(ctx.node, x.shape(), ctx.output.shape(), dy.shape());
  if (g.n == 0) {
    std::fill(ctx.output.data<float>(), ctx.output.data<float>() + ctx.output.num_elements(), 0.0f);
    return;
  }
  ConvEntry* e = GetEntry(2, g, Epilogue{});
  std::lock_guard<std::mutex> lock(e->mu);
  dnnl::stream stream(Engine());
  const CallBuffer buffer(e->CallBytes());
  char* const scratch = buffer.data() + e->ScratchpadOffset();
  memory user = Wrap(g.weights(Tag::hwio), ctx.output.raw_data());
  e->conv.Execute(stream,
                  {{DNNL_ARG_SRC, Wrap(g.src(), x.raw_data())},
                   {DNNL_ARG_DIFF_DST, Wrap(g.dst(), dy.raw_data())},
                   {DNNL_ARG_DIFF_WEIGHTS, e->blocked_weights ? *e->blocked_weights : user}},
                  scratch);
  if (e->weights_reorder) e->weights_reorder->Execute(stream, *e->blocked_weights, user, scratch);
  stream.wait();
}

}  // namespace fornax::cpu
