// Softmax: softmax along `axis` (keras.layers.Softmax).
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Softmax final : public UnaryLayer {
 public:
  Softmax(LayerCommon common, int64_t axis) : UnaryLayer(std::move(common)), axis_(axis) {}

 protected:
  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    return b.Softmax(x, axis_);
  }

 private:
  int64_t axis_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeSoftmax(const ConfigView& cfg, LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                          cfg.IntOrInts("axis", std::vector<int64_t>{-1}));
  if (axes.size() != 1)
    return cfg.ArgumentError("axis", "a single axis (several are not supported)");
  return std::make_unique<Softmax>(std::move(common), axes[0]);
}

}  // namespace fornax
