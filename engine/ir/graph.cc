// Graph storage, op names from ops.def, and the text printer.
#include "engine/ir/graph.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/check.h"

namespace fornax {
namespace {

struct OpInfo {
  std::string_view name;
  int arity;
};

constexpr std::array<OpInfo, kNumOps> kOpInfo = {{
#define FORNAX_OP(name, str, arity) {str, arity},
#include "engine/ir/ops.def"
#undef FORNAX_OP
}};

std::string DimsString(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ", "), "]");
}

std::string PairString(const std::array<int64_t, 2>& p) {
  return absl::StrCat("[", p[0], ", ", p[1], "]");
}

// The attributes that differ from their defaults, plus the slot index of
// leaves and assigns (index 0 is meaningful there). Printing only what
// differs keeps lines short and needs no per-op table.
std::string AttrsString(const Node& node) {
  const Attrs& a = node.attrs;
  const Attrs d;
  std::vector<std::string> parts;
  bool has_index = node.op == Op::kInput || node.op == Op::kVariable || node.op == Op::kAssign ||
                   node.op == Op::kRandomUniform;
  if (has_index || a.index != d.index) parts.push_back(absl::StrCat("index=", a.index));
  if (a.axis != d.axis || node.op == Op::kConcat || node.op == Op::kSlice ||
      node.op == Op::kArgMax || node.op == Op::kDimSize) {
    parts.push_back(absl::StrCat("axis=", a.axis));
  }
  if (a.begin != d.begin || a.end != d.end) {
    parts.push_back(absl::StrCat("range=[", a.begin, ", ", a.end, ")"));
  }
  if (a.depth != d.depth) parts.push_back(absl::StrCat("depth=", a.depth));
  if (!a.axes.empty()) parts.push_back(absl::StrCat("axes=", DimsString(a.axes)));
  if (a.keepdims) parts.push_back("keepdims");
  if (a.transpose_a) parts.push_back("transpose_a");
  if (a.transpose_b) parts.push_back("transpose_b");
  if (a.shape != d.shape) parts.push_back(absl::StrCat("shape=", a.shape.ToString()));
  if (a.window != d.window) parts.push_back(absl::StrCat("window=", PairString(a.window)));
  if (a.strides != d.strides) parts.push_back(absl::StrCat("strides=", PairString(a.strides)));
  if (a.dilation != d.dilation) parts.push_back(absl::StrCat("dilation=", PairString(a.dilation)));
  if (a.padding != d.padding) parts.push_back("padding=same");
  if (node.op == Op::kCast) parts.push_back(absl::StrCat("to=", std::string(DTypeName(a.dtype))));
  if (a.value.defined()) parts.push_back(absl::StrCat("value=", a.value.DebugString(4)));
  if (!a.epilogue.empty()) {
    std::vector<std::string> names;
    for (Op op : a.epilogue) names.push_back(std::string(OpName(op)));
    parts.push_back(absl::StrCat("epilogue=[", absl::StrJoin(names, ", "), "]"));
  }
  if (a.has_bias) parts.push_back("bias");
  if (parts.empty()) return "";
  return absl::StrCat(" {", absl::StrJoin(parts, ", "), "}");
}

}  // namespace

std::string_view OpName(Op op) { return kOpInfo[static_cast<size_t>(op)].name; }

int OpArity(Op op) { return kOpInfo[static_cast<size_t>(op)].arity; }

ValueId Graph::Append(Node node) {
  for (ValueId in : node.inputs) FORNAX_CHECK(in >= 0 && in < size());
  nodes_.push_back(std::move(node));
  return size() - 1;
}

std::string Graph::ToString() const {
  std::string out;
  for (int i = 0; i < size(); ++i) {
    const Node& n = nodes_[static_cast<size_t>(i)];
    std::vector<std::string> ins;
    for (ValueId in : n.inputs) ins.push_back(absl::StrCat("%", in));
    absl::StrAppend(&out, "%", i, " = ", std::string(OpName(n.op)), "(", absl::StrJoin(ins, ", "),
                    ")", AttrsString(n), " : ", std::string(DTypeName(n.dtype)),
                    n.shape.ToString());
    if (!n.name.empty()) absl::StrAppend(&out, "  # ", n.name);
    out += "\n";
  }
  if (!outputs_.empty()) {
    std::vector<std::string> outs;
    for (ValueId o : outputs_) outs.push_back(absl::StrCat("%", o));
    absl::StrAppend(&out, "outputs: ", absl::StrJoin(outs, ", "), "\n");
  }
  return out;
}

}  // namespace fornax
