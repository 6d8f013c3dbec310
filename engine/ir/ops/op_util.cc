// Shared checks for the OpDef families (see op_util.h).
#include "engine/ir/ops/op_util.h"

namespace fornax {

std::string TypeString(const Node& n) {
  return absl::StrCat(std::string(DTypeName(n.dtype)), n.shape.ToString());
}

absl::Status RequireFloat(const Node& node, const Node& in, std::string_view what) {
  if (IsFloating(in.dtype)) return absl::OkStatus();
  return OpError(node, "expected ", std::string(what), " to have a floating dtype, got ",
                 TypeString(in));
}

absl::Status RequireNumeric(const Node& node, const Node& in, std::string_view what) {
  if (in.dtype != DType::kBool) return absl::OkStatus();
  return OpError(node, "expected ", std::string(what), " to be numeric, got ", TypeString(in));
}

absl::Status RequireRank(const Node& node, const Node& in, std::string_view what, int rank) {
  if (in.shape.rank() == rank) return absl::OkStatus();
  return OpError(node, "expected ", std::string(what), " of rank ", rank, ", got ", TypeString(in));
}

absl::StatusOr<int64_t> WindowOutputSize(const Node& node, int64_t in, int64_t window,
                                         int64_t stride, int64_t dilation, Padding padding) {
  if (in == kBatch) return OpError(node, "spatial dimensions must be known, got None");
  if (window < 1 || stride < 1 || dilation < 1) {
    return OpError(node, "window, strides and dilation must be >= 1, got window ", window,
                   ", stride ", stride, ", dilation ", dilation);
  }
  if (padding == Padding::kSame) return (in + stride - 1) / stride;
  int64_t effective = (window - 1) * dilation + 1;
  if (in < effective) {
    return OpError(node, "window of effective size ", effective,
                   " does not fit in a spatial dimension of size ", in, " with 'valid' padding");
  }
  return (in - effective) / stride + 1;
}

Shape KeepDimsShape(const Shape& x, const std::vector<int64_t>& axes) {
  Shape out = x;
  for (int64_t a : axes) out.mutable_dims()[static_cast<size_t>(a)] = 1;
  return out;
}

}  // namespace fornax
