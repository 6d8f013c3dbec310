#include "engine/runtime/executable.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/backends/reference/reference_backend.h"
#include "engine/base/check.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

using Home = MemoryPlan::Home;

std::string Describe(DType dtype, const Shape& shape) {
  return absl::StrCat(std::string(DTypeName(dtype)), shape.ToString());
}

std::string NodeLabel(const Node& node) {
  return node.name.empty() ? "" : absl::StrCat(" ('", node.name, "')");
}

}  // namespace

Executable::Executable(Graph graph, MemoryPlan plan, Backend* backend, int64_t max_batch)
    : graph_(std::move(graph)), plan_(std::move(plan)), backend_(backend), max_batch_(max_batch) {}

absl::StatusOr<std::unique_ptr<Executable>> Executable::Create(Graph graph, MemoryPlan plan,
                                                               Backend* backend,
                                                               int64_t max_batch) {
  if (static_cast<int>(plan.slots.size()) != graph.size()) {
    return absl::InvalidArgumentError(absl::StrCat("memory plan has ", plan.slots.size(),
                                                   " slots, expected one per node (", graph.size(),
                                                   ")"));
  }
  if (max_batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch must be >= 1, got ", max_batch));
  }
  std::unique_ptr<Executable> exe(
      new Executable(std::move(graph), std::move(plan), backend, max_batch));
  const Graph& g = exe->graph_;
  exe->kernels_.assign(static_cast<size_t>(g.size()), nullptr);
  uint32_t next_arg = 0;
  std::vector<bool> dynamic(static_cast<size_t>(g.size()), false);
  for (ValueId v = 0; v < g.size(); ++v) {
    const Node& node = g.node(v);
    const MemoryPlan::Slot& slot = exe->plan_.slots[static_cast<size_t>(v)];
    if (slot.home == Home::kAlias && (slot.alias_of < 0 || slot.alias_of >= v)) {
      return absl::InvalidArgumentError(absl::StrCat("memory plan: %", v, " aliases %",
                                                     slot.alias_of, ", expected an earlier value"));
    }
    if (slot.home == Home::kVariable && slot.variable < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("memory plan: %", v, " lives in a variable but names none"));
    }
    if (node.op == Op::kInput) {
      exe->input_node_.push_back(v);
      exe->num_inputs_ = std::max(exe->num_inputs_, node.attrs.index + 1);
    }
    if (node.op == Op::kVariable || node.op == Op::kAssign) exe->variable_node_.push_back(v);
    dynamic[static_cast<size_t>(v)] =
        slot.home == Home::kInput || slot.home == Home::kVariable ||
        (slot.home == Home::kAlias && dynamic[static_cast<size_t>(slot.alias_of)]);
    if (dynamic[static_cast<size_t>(v)]) exe->dynamic_.push_back(v);
    exe->arg_begin_.push_back(next_arg);
    for (ValueId in : node.inputs) {
      if (dynamic[static_cast<size_t>(in)]) exe->dynamic_args_.emplace_back(next_arg, in);
      ++next_arg;
    }
    // Leaves bound to storage and reshapes planned as aliases compute nothing.
    const bool bound = slot.home == Home::kInput || node.op == Op::kVariable ||
                       slot.home == Home::kConstant ||
                       (slot.home == Home::kAlias && node.op == Op::kReshape);
    if (bound) continue;
    KernelFn kernel = backend->FindKernel(node);
    if (kernel == nullptr) {
      if (!backend->allocator()->host_accessible()) {
        return absl::UnimplementedError(absl::StrCat(
            "backend '", std::string(backend->name()), "' has no kernel for %", v, " = ",
            std::string(OpName(node.op)), ", and the reference fallback needs host memory"));
      }
      kernel = ReferenceKernel(node.op);
    }
    if (kernel == nullptr) {
      return absl::UnimplementedError(
          absl::StrCat("no kernel for %", v, " = ", std::string(OpName(node.op)), " on backend '",
                       std::string(backend->name()), "' nor on 'reference'"));
    }
    exe->kernels_[static_cast<size_t>(v)] = kernel;
  }
  exe->arena_ = Buffer::Make(backend->allocator(), exe->plan_.arena_bytes);
  return exe;
}

absl::StatusOr<int64_t> Executable::CheckInputs(std::span<const Tensor> inputs) const {
  if (static_cast<int64_t>(inputs.size()) != num_inputs_) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", num_inputs_, " inputs, got ", inputs.size()));
  }
  int64_t batch = -1;
  for (ValueId v : input_node_) {
    const Node& node = graph_.node(v);
    const Tensor& t = inputs[static_cast<size_t>(node.attrs.index)];
    bool fits = t.defined() && t.dtype() == node.dtype && t.shape().rank() == node.shape.rank();
    for (int d = 0; fits && d < node.shape.rank(); ++d) {
      if (node.shape.dim(d) != kBatch) {
        fits = t.shape().dim(d) == node.shape.dim(d);
      } else if (batch < 0) {
        batch = t.shape().dim(d);
      } else if (t.shape().dim(d) != batch) {
        return absl::InvalidArgumentError(
            absl::StrCat("input ", node.attrs.index, NodeLabel(node), " has batch size ",
                         t.shape().dim(d), ", but another input has batch size ", batch));
      }
    }
    if (!fits) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", node.attrs.index, NodeLabel(node), ": expected ",
                       Describe(node.dtype, node.shape), ", got ",
                       t.defined() ? Describe(t.dtype(), t.shape()) : "an undefined tensor"));
    }
  }
  if (batch < 0) batch = max_batch_;  // no input has a batch dimension
  if (batch > max_batch_) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch ", batch, " exceeds the plan's capacity ", max_batch_));
  }
  return batch;
}

absl::Status Executable::CheckVariables(std::span<const Tensor> variables) const {
  for (ValueId v : variable_node_) {
    const Node& node = graph_.node(v);
    const int64_t index = node.attrs.index;
    if (index < 0 || index >= static_cast<int64_t>(variables.size())) {
      return absl::InvalidArgumentError(absl::StrCat("the plan uses variable ", index,
                                                     NodeLabel(node), ", but only ",
                                                     variables.size(), " were given"));
    }
    const Tensor& t = variables[static_cast<size_t>(index)];
    if (!t.defined() || t.dtype() != node.dtype || t.shape() != node.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "variable ", index, NodeLabel(node), ": expected ", Describe(node.dtype, node.shape),
          ", got ", t.defined() ? Describe(t.dtype(), t.shape()) : "an undefined tensor"));
    }
  }
  return absl::OkStatus();
}

Executable::BatchState& Executable::StateFor(int64_t batch) {
  std::unique_ptr<BatchState>& state = states_[batch];
  if (state != nullptr) return *state;
  state = std::make_unique<BatchState>();
  state->values.resize(static_cast<size_t>(graph_.size()));
  for (ValueId v = 0; v < graph_.size(); ++v) {
    const Node& node = graph_.node(v);
    const MemoryPlan::Slot& slot = plan_.slots[static_cast<size_t>(v)];
    Tensor& value = state->values[static_cast<size_t>(v)];
    switch (slot.home) {
      case Home::kArena:
        value = Tensor(node.dtype, node.shape.Concrete(batch), arena_, slot.offset);
        break;
      case Home::kConstant:
        value = node.attrs.value;
        break;
      case Home::kAlias: {
        // Aliases of inputs and variables are bound on every run.
        const Tensor& source = state->values[static_cast<size_t>(slot.alias_of)];
        if (source.defined()) value = source.Reshaped(node.shape.Concrete(batch));
        break;
      }
      case Home::kInput:
      case Home::kVariable:
        break;  // bound on every run
    }
  }
  for (ValueId v = 0; v < graph_.size(); ++v) {
    for (ValueId in : graph_.node(v).inputs)
      state->args.push_back(state->values[static_cast<size_t>(in)]);
  }
  return *state;
}

absl::Status Executable::Run(std::span<const Tensor> inputs, std::span<Tensor> variables,
                             const RunOptions& options, std::vector<Tensor>* outputs) {
  FORNAX_ASSIGN_OR_RETURN(const int64_t batch, CheckInputs(inputs));
  FORNAX_RETURN_IF_ERROR(CheckVariables(variables));
  BatchState& state = StateFor(batch);
  for (ValueId v : dynamic_) {
    const Node& node = graph_.node(v);
    const MemoryPlan::Slot& slot = plan_.slots[static_cast<size_t>(v)];
    Tensor& value = state.values[static_cast<size_t>(v)];
    if (slot.home == Home::kInput) {
      value = inputs[static_cast<size_t>(node.attrs.index)];
    } else if (slot.home == Home::kVariable) {
      value = variables[static_cast<size_t>(slot.variable)];
    } else {
      value = state.values[static_cast<size_t>(slot.alias_of)].Reshaped(node.shape.Concrete(batch));
    }
  }
  for (const auto& [position, v] : dynamic_args_)
    state.args[position] = state.values[static_cast<size_t>(v)];

  for (ValueId v = 0; v < graph_.size(); ++v) {
    const KernelFn kernel = kernels_[static_cast<size_t>(v)];
    if (kernel == nullptr) continue;
    const Node& node = graph_.node(v);
    Tensor& out = state.values[static_cast<size_t>(v)];
    const KernelContext ctx{
        node,
        std::span<const Tensor>(state.args.data() + arg_begin_[static_cast<size_t>(v)],
                                node.inputs.size()),
        out,
        options.seed,
        options.step,
        /*num_threads=*/1,
        options.inference};
    kernel(ctx);
    if (node.op == Op::kAssign) {
      Tensor& variable = variables[static_cast<size_t>(node.attrs.index)];
      if (variable.raw_data() != out.raw_data()) {
        std::memmove(variable.raw_data(), out.raw_data(), variable.byte_size());
      }
    }
  }

  outputs->resize(graph_.outputs().size());
  for (size_t k = 0; k < graph_.outputs().size(); ++k) {
    (*outputs)[k] = state.values[static_cast<size_t>(graph_.outputs()[k])].Clone();
  }
  return absl::OkStatus();
}

std::string Executable::PlanString() const {
  static constexpr const char* kHomeNames[] = {"arena", "input", "variable", "constant", "alias"};
  std::string s;
  int ops = 0;
  for (ValueId v = 0; v < graph_.size(); ++v) {
    const Node& node = graph_.node(v);
    const MemoryPlan::Slot& slot = plan_.slots[static_cast<size_t>(v)];
    std::string where = kHomeNames[static_cast<int>(slot.home)];
    if (slot.home == Home::kArena) absl::StrAppend(&where, " @", slot.offset);
    if (slot.home == Home::kAlias) absl::StrAppend(&where, " of %", slot.alias_of);
    if (slot.home == Home::kVariable) absl::StrAppend(&where, " #", slot.variable);
    std::vector<std::string> args;
    for (ValueId in : node.inputs) args.push_back(absl::StrCat("%", in));
    absl::StrAppendFormat(&s, "%%%d = %s(%s) : %s  [%s]\n", v, std::string(OpName(node.op)),
                          absl::StrJoin(args, ", "), Describe(node.dtype, node.shape), where);
    if (kernels_[static_cast<size_t>(v)] != nullptr) ++ops;
  }
  absl::StrAppend(&s, "backend: ", std::string(backend_->name()), ", kernels: ", ops,
                  ", arena: ", plan_.arena_bytes, " bytes (max batch ", max_batch_, ")\n");
  return s;
}

}  // namespace fornax
