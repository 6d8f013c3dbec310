// Flatten: (batch, d1, ..., dk) -> (batch, d1 * ... * dk) (keras.layers.Flatten).
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Flatten final : public UnaryLayer {
 public:
  using UnaryLayer::UnaryLayer;

 protected:
  bool keeps_input_dtype() const override { return true; }

  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    const Shape shape = b.shape(x);
    if (shape.rank() < 1) {
      b.Fail(absl::InvalidArgumentError(
          "expected an input with a batch dimension, received a scalar"));
      return kNoValue;
    }
    int64_t size = 1;
    for (int i = 1; i < shape.rank(); ++i) size *= shape.dim(i);
    return b.Reshape(x, Shape{shape.dim(0), size});
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeFlatten(const ConfigView& cfg, LayerCommon common) {
  FORNAX_RETURN_IF_ERROR(RequireChannelsLast(cfg));
  return std::make_unique<Flatten>(std::move(common));
}

}  // namespace fornax
