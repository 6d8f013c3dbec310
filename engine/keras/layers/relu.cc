// ReLU: keras.layers.ReLU(max_value, negative_slope, threshold).
#include "engine/base/status_macros.h"
#include "engine/keras/activations.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class ReLU final : public UnaryLayer {
 public:
  ReLU(LayerCommon common, double max_value, double negative_slope, double threshold)
      : UnaryLayer(std::move(common)),
        max_value_(max_value),
        negative_slope_(negative_slope),
        threshold_(threshold) {}

 protected:
  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    return KerasRelu(b, x, negative_slope_, max_value_, threshold_);
  }

 private:
  double max_value_;  // < 0: none
  double negative_slope_;
  double threshold_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeReLU(const ConfigView& cfg, LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(double max_value, cfg.Float("max_value", -1.0));
  if (cfg.Has("max_value") && max_value < 0) {
    return cfg.ArgumentError("max_value", "a non-negative number or None");
  }
  FORNAX_ASSIGN_OR_RETURN(double negative_slope, cfg.Float("negative_slope", 0.0));
  if (negative_slope < 0) return cfg.ArgumentError("negative_slope", "a non-negative number");
  FORNAX_ASSIGN_OR_RETURN(double threshold, cfg.Float("threshold", 0.0));
  return std::make_unique<ReLU>(std::move(common), max_value, negative_slope, threshold);
}

}  // namespace fornax
