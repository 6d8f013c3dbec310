// Reshape: (batch, ...) -> (batch, *target_shape), one -1 allowed
// (keras.layers.Reshape).
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Reshape final : public UnaryLayer {
 public:
  Reshape(LayerCommon common, std::vector<int64_t> target)
      : UnaryLayer(std::move(common)), target_(std::move(target)) {}

 protected:
  bool keeps_input_dtype() const override { return true; }

  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    const Shape shape = b.shape(x);
    int64_t size = 1;
    for (int i = 1; i < shape.rank(); ++i) size *= shape.dim(i);
    int64_t known = 1;
    int unknown = -1;
    for (size_t i = 0; i < target_.size(); ++i) {
      if (target_[i] == -1) {
        unknown = static_cast<int>(i);
      } else {
        known *= target_[i];
      }
    }
    std::vector<int64_t> dims = {shape.dim(0)};
    dims.insert(dims.end(), target_.begin(), target_.end());
    if (unknown >= 0) {
      if (known == 0 || size % known != 0) {
        b.Fail(absl::InvalidArgumentError(absl::StrCat("cannot reshape ", shape.ToString(),
                                                       " to (None, ", absl::StrJoin(target_, ", "),
                                                       ")")));
        return kNoValue;
      }
      dims[static_cast<size_t>(unknown) + 1] = size / known;
    } else if (known != size) {
      b.Fail(absl::InvalidArgumentError(
          absl::StrCat("total size of the new array must be unchanged: input shape ",
                       shape.ToString(), ", target_shape (", absl::StrJoin(target_, ", "), ")")));
      return kNoValue;
    }
    return b.Reshape(x, Shape(dims));
  }

 private:
  std::vector<int64_t> target_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeReshape(const ConfigView& cfg, LayerCommon common) {
  const nlohmann::json* target = cfg.Find("target_shape");
  const std::string expected = "a list of positive integers with at most one -1";
  if (target == nullptr || !target->is_array()) return cfg.ArgumentError("target_shape", expected);
  std::vector<int64_t> dims;
  int unknowns = 0;
  for (const auto& d : *target) {
    if (!d.is_number_integer() || (d.get<int64_t>() <= 0 && d.get<int64_t>() != -1)) {
      return cfg.ArgumentError("target_shape", expected);
    }
    unknowns += d.get<int64_t>() == -1;
    dims.push_back(d.get<int64_t>());
  }
  if (unknowns > 1) return cfg.ArgumentError("target_shape", expected);
  return std::make_unique<Reshape>(std::move(common), std::move(dims));
}

}  // namespace fornax
