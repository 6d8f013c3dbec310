// OpDefs for shape and data movement: reshape, transpose, broadcast, concat,
// slice, gather/scatter and one-hot.
#include <algorithm>

#include "absl/strings/str_join.h"
#include "engine/ir/ops/op_util.h"

namespace fornax {
namespace {

int CountBatch(const Shape& s) {
  return static_cast<int>(std::count(s.dims().begin(), s.dims().end(), kBatch));
}

absl::Status RequireIndices(const Node& node, const Node& in) {
  if (IsInteger(in.dtype)) return absl::OkStatus();  // uint8 too: IDX labels
  return OpError(node, "expected integer indices (int32, int64 or uint8), got ", TypeString(in));
}

// The target may name kBatch where the input has it; no dim is inferred here
// (Builder::Reshape resolves a -1 for unbatched inputs).
absl::Status InferReshape(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  const Shape& target = node->attrs.shape;
  for (int64_t d : target.dims()) {
    if (d < 0 && d != kBatch) return OpError(*node, "bad target shape ", target.ToString());
  }
  if (CountBatch(target) != CountBatch(x.shape) ||
      target.NumElements(1) != x.shape.NumElements(1)) {
    return OpError(*node, "cannot reshape ", TypeString(x), " to ", target.ToString(),
                   ": element counts differ (", x.shape.NumElements(1), " vs ",
                   target.NumElements(1), " per batch item)");
  }
  node->dtype = x.dtype;
  node->shape = target;
  return absl::OkStatus();
}

absl::Status InferTranspose(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  const std::vector<int64_t>& perm = node->attrs.axes;
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool is_perm = static_cast<int>(perm.size()) == x.shape.rank();
  for (size_t i = 0; is_perm && i < sorted.size(); ++i)
    is_perm = sorted[i] == static_cast<int64_t>(i);
  if (!is_perm) {
    return OpError(*node, "expected a permutation of ", x.shape.rank(), " axes for ", TypeString(x),
                   ", got [", absl::StrJoin(perm, ", "), "]");
  }
  std::vector<int64_t> dims;
  for (int64_t p : perm) dims.push_back(x.shape.dim(static_cast<int>(p)));
  node->dtype = x.dtype;
  node->shape = Shape(std::move(dims));
  return absl::OkStatus();
}

absl::Status InferBroadcastTo(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  absl::StatusOr<Shape> shape = BroadcastShapes(x.shape, node->attrs.shape);
  if (!shape.ok() || *shape != node->attrs.shape) {
    return OpError(*node, "cannot broadcast ", TypeString(x), " to ", node->attrs.shape.ToString());
  }
  node->dtype = x.dtype;
  node->shape = node->attrs.shape;
  return absl::OkStatus();
}

absl::Status InferConcat(const Graph& g, Node* node) {
  if (node->inputs.empty()) return OpError(*node, "expected at least one input, got none");
  const Node& first = InputNode(g, *node, 0);
  int64_t axis = node->attrs.axis;
  if (axis < 0 || axis >= first.shape.rank()) {
    return OpError(*node, "axis ", axis, " is out of range for ", TypeString(first));
  }
  std::vector<int64_t> dims = first.shape.dims();
  dims[static_cast<size_t>(axis)] = 0;
  for (int i = 0; i < static_cast<int>(node->inputs.size()); ++i) {
    const Node& in = InputNode(g, *node, i);
    bool fits = in.dtype == first.dtype && in.shape.rank() == first.shape.rank();
    for (int d = 0; fits && d < in.shape.rank(); ++d) {
      fits = d == axis || in.shape.dim(d) == first.shape.dim(d);
    }
    if (!fits) {
      return OpError(*node, "input ", i, " is ", TypeString(in), ", which does not match input 0 ",
                     TypeString(first), " outside axis ", axis);
    }
    int64_t size = in.shape.dim(static_cast<int>(axis));
    if (size == kBatch) return OpError(*node, "cannot concatenate along the batch dimension");
    dims[static_cast<size_t>(axis)] += size;
  }
  node->dtype = first.dtype;
  node->shape = Shape(std::move(dims));
  return absl::OkStatus();
}

absl::Status InferSlice(const Graph& g, Node* node) {
  const Node& x = InputNode(g, *node, 0);
  const Attrs& a = node->attrs;
  if (a.axis < 0 || a.axis >= x.shape.rank()) {
    return OpError(*node, "axis ", a.axis, " is out of range for ", TypeString(x));
  }
  int64_t size = x.shape.dim(static_cast<int>(a.axis));
  if (size == kBatch) return OpError(*node, "cannot slice along the batch dimension");
  if (a.begin < 0 || a.begin > a.end || a.end > size) {
    return OpError(*node, "expected 0 <= begin <= end <= ", size, " along axis ", a.axis, " of ",
                   TypeString(x), ", got [", a.begin, ", ", a.end, ")");
  }
  node->dtype = x.dtype;
  node->shape = x.shape;
  node->shape.mutable_dims()[static_cast<size_t>(a.axis)] = a.end - a.begin;
  return absl::OkStatus();
}

absl::Status InferGather(const Graph& g, Node* node) {
  const Node& params = InputNode(g, *node, 0);
  const Node& indices = InputNode(g, *node, 1);
  if (params.shape.rank() < 1) return OpError(*node, "expected params of rank >= 1, got a scalar");
  if (absl::Status s = RequireIndices(*node, indices); !s.ok()) return s;
  std::vector<int64_t> dims = indices.shape.dims();
  dims.insert(dims.end(), params.shape.dims().begin() + 1, params.shape.dims().end());
  node->dtype = params.dtype;
  node->shape = Shape(std::move(dims));
  return absl::OkStatus();
}

absl::Status InferScatterAddRows(const Graph& g, Node* node) {
  const Node& updates = InputNode(g, *node, 0);
  const Node& indices = InputNode(g, *node, 1);
  const Shape& out = node->attrs.shape;
  if (absl::Status s = RequireIndices(*node, indices); !s.ok()) return s;
  if (out.rank() < 1 || out.dim(0) < 0) {
    return OpError(*node, "expected a result shape with a known first dim, got ", out.ToString());
  }
  std::vector<int64_t> expected = indices.shape.dims();
  expected.insert(expected.end(), out.dims().begin() + 1, out.dims().end());
  if (updates.shape != Shape(expected)) {
    return OpError(*node, "expected updates of shape ", Shape(expected).ToString(), ", got ",
                   TypeString(updates));
  }
  node->dtype = updates.dtype;
  node->shape = out;
  return absl::OkStatus();
}

absl::Status InferOneHot(const Graph& g, Node* node) {
  const Node& indices = InputNode(g, *node, 0);
  if (absl::Status s = RequireIndices(*node, indices); !s.ok()) return s;
  if (node->attrs.depth < 1) return OpError(*node, "depth must be >= 1, got ", node->attrs.depth);
  node->dtype = DType::kFloat32;
  node->shape = indices.shape;
  node->shape.mutable_dims().push_back(node->attrs.depth);
  return absl::OkStatus();
}

void GradReshape(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Reshape(dy, b.shape(InputOf(b, y, 0)));
}

void GradTranspose(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  const std::vector<int64_t>& perm = b.node(y).attrs.axes;
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  dx[0] = b.Transpose(dy, std::move(inverse));
}

// The driver sums dy over the broadcast dimensions.
void GradBroadcastTo(Builder&, ValueId, ValueId dy, std::span<ValueId> dx) { dx[0] = dy; }

void GradConcat(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  int64_t axis = b.node(y).attrs.axis;
  int64_t offset = 0;
  for (size_t i = 0; i < dx.size(); ++i) {
    int64_t size = b.shape(InputOf(b, y, static_cast<int>(i))).dim(static_cast<int>(axis));
    dx[i] = b.Slice(dy, axis, offset, offset + size);
    offset += size;
  }
}

// Pads dy with zeros back to the input's extent along the axis.
void GradSlice(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  const Attrs a = b.node(y).attrs;  // a copy: emitting moves the graph's nodes
  ValueId x = InputOf(b, y, 0);
  int64_t size = b.shape(x).dim(static_cast<int>(a.axis));
  auto zeros = [&](int64_t n) {
    Shape s = b.shape(dy);
    s.mutable_dims()[static_cast<size_t>(a.axis)] = n;
    return b.BroadcastTo(ScalarLike(b, 0.0, dy), s);
  };
  std::vector<ValueId> parts;
  if (a.begin > 0) parts.push_back(zeros(a.begin));
  parts.push_back(dy);
  if (a.end < size) parts.push_back(zeros(size - a.end));
  dx[0] = parts.size() == 1 ? dy : b.Concat(std::move(parts), a.axis);
}

void GradGather(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  Attrs attrs;
  attrs.shape = b.shape(InputOf(b, y, 0));
  dx[0] = b.Emit(Op::kScatterAddRows, {dy, InputOf(b, y, 1)}, std::move(attrs));
}

void GradScatterAddRows(Builder& b, ValueId y, ValueId dy, std::span<ValueId> dx) {
  dx[0] = b.Gather(dy, InputOf(b, y, 1));
}

constexpr OpDef kDefs[] = {
    {Op::kReshape, InferReshape, GradReshape},
    {Op::kTranspose, InferTranspose, GradTranspose},
    {Op::kBroadcastTo, InferBroadcastTo, GradBroadcastTo},
    {Op::kConcat, InferConcat, GradConcat},
    {Op::kSlice, InferSlice, GradSlice},
    {Op::kGather, InferGather, GradGather},
    {Op::kScatterAddRows, InferScatterAddRows, GradScatterAddRows},
    {Op::kOneHot, InferOneHot, nullptr},
};

}  // namespace

std::span<const OpDef> MovementOpDefs() { return kDefs; }

}  // namespace fornax
