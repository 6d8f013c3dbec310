// LeakyReLU: x if x >= 0 else negative_slope * x (keras.layers.LeakyReLU).
#include "engine/base/status_macros.h"
#include "engine/keras/activations.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class LeakyReLU final : public UnaryLayer {
 public:
  LeakyReLU(LayerCommon common, double negative_slope)
      : UnaryLayer(std::move(common)), negative_slope_(negative_slope) {}

 protected:
  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    return LeakyRelu(b, x, negative_slope_);
  }

 private:
  double negative_slope_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeLeakyReLU(const ConfigView& cfg, LayerCommon common) {
  // Keras 2 configs call it `alpha`.
  FORNAX_ASSIGN_OR_RETURN(double alpha, cfg.Float("alpha", 0.3));
  FORNAX_ASSIGN_OR_RETURN(double negative_slope, cfg.Float("negative_slope", alpha));
  if (negative_slope < 0) return cfg.ArgumentError("negative_slope", "a non-negative number");
  return std::make_unique<LeakyReLU>(std::move(common), negative_slope);
}

}  // namespace fornax
