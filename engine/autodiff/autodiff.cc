// The reverse-mode driver (see autodiff.h).
#include "engine/autodiff/autodiff.h"

#include "absl/strings/str_cat.h"
#include "engine/ir/op_def.h"

namespace fornax {
namespace {

// Sums `g` over the dimensions that broadcasting added or stretched, so it
// has `target`'s shape (a gradient rule may return the broadcast shape).
ValueId ReduceToShape(Builder& b, ValueId g, Shape target) {
  Shape have = b.shape(g);  // copies: emitting may move the graph's nodes
  if (have == target) return g;
  if (have.rank() < target.rank()) return b.BroadcastTo(g, target);
  int lead = have.rank() - target.rank();
  std::vector<int64_t> axes;
  for (int i = 0; i < have.rank(); ++i) {
    if (i < lead || (target.dim(i - lead) == 1 && have.dim(i) != 1)) axes.push_back(i);
  }
  if (!axes.empty()) g = b.Sum(g, std::move(axes));
  return b.Reshape(g, target);
}

// Marks the values on some path from a `wrt` value to `y`: only these need
// gradients.
std::vector<bool> ActiveValues(const Graph& g, ValueId y, std::span<const ValueId> wrt) {
  size_t n = static_cast<size_t>(y) + 1;
  std::vector<bool> reaches_y(n, false);
  reaches_y[n - 1] = true;
  for (ValueId i = y; i >= 0; --i) {
    if (!reaches_y[static_cast<size_t>(i)]) continue;
    for (ValueId in : g.node(i).inputs) reaches_y[static_cast<size_t>(in)] = true;
  }
  std::vector<bool> from_wrt(n, false);
  for (ValueId w : wrt) {
    if (w <= y) from_wrt[static_cast<size_t>(w)] = true;
  }
  std::vector<bool> active(n, false);
  for (ValueId i = 0; i <= y; ++i) {
    size_t k = static_cast<size_t>(i);
    for (ValueId in : g.node(i).inputs)
      from_wrt[k] = from_wrt[k] || from_wrt[static_cast<size_t>(in)];
    active[k] = from_wrt[k] && reaches_y[k];
  }
  return active;
}

absl::Status RuleError(const Builder& b, ValueId i) {
  return absl::Status(b.status().code(),
                      absl::StrCat("gradient of %", i, " (", std::string(OpName(b.node(i).op)),
                                   "): ", b.status().message()));
}

}  // namespace

absl::StatusOr<std::vector<ValueId>> Gradients(Builder& b, ValueId y,
                                               std::span<const ValueId> wrt) {
  if (!b.ok()) return b.status();
  const Graph& graph = *b.graph();
  auto exists = [&](ValueId v) { return v >= 0 && v < graph.size(); };
  if (!exists(y) || !IsFloating(b.dtype(y))) {
    return absl::InvalidArgumentError(
        absl::StrCat("Gradients: expected y to be a floating value, got %", y,
                     exists(y) ? absl::StrCat(" of dtype ", std::string(DTypeName(b.dtype(y))))
                               : " (no value)"));
  }
  for (ValueId w : wrt) {
    if (!exists(w)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Gradients: wrt value %", w, " does not exist"));
    }
  }

  std::vector<bool> active = ActiveValues(graph, y, wrt);
  std::vector<ValueId> grads(static_cast<size_t>(y) + 1, kNoValue);
  grads.back() = b.Fill(1.0, b.dtype(y), b.shape(y));
  for (ValueId i = y; i >= 0; --i) {
    ValueId dy = grads[static_cast<size_t>(i)];
    if (!active[static_cast<size_t>(i)] || dy == kNoValue) continue;
    const OpDef& def = GetOpDef(graph.node(i).op);
    if (def.grad == nullptr) continue;
    std::vector<ValueId> inputs = graph.node(i).inputs;  // copied: rules append nodes
    std::vector<ValueId> dx(inputs.size(), kNoValue);
    def.grad(b, i, dy, dx);
    if (!b.ok()) return RuleError(b, i);
    for (size_t j = 0; j < inputs.size(); ++j) {
      ValueId in = inputs[j];
      if (dx[j] == kNoValue || !active[static_cast<size_t>(in)] || !IsFloating(b.dtype(in))) {
        continue;
      }
      ValueId g = b.Cast(ReduceToShape(b, dx[j], b.shape(in)), b.dtype(in));
      ValueId& acc = grads[static_cast<size_t>(in)];
      acc = acc == kNoValue ? g : b.Add(acc, g);
    }
    if (!b.ok()) return RuleError(b, i);
  }

  std::vector<ValueId> result;
  result.reserve(wrt.size());
  for (ValueId w : wrt) {
    ValueId g = w <= y ? grads[static_cast<size_t>(w)] : kNoValue;
    result.push_back(g != kNoValue ? g : b.Fill(0.0, b.dtype(w), b.shape(w)));
  }
  if (!b.ok()) return b.status();
  return result;
}

}  // namespace fornax
