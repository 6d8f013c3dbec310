// Activation: applies a named activation (keras.layers.Activation).
#include "engine/base/status_macros.h"
#include "engine/keras/activations.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class ActivationLayer final : public UnaryLayer {
 public:
  ActivationLayer(LayerCommon common, Activation activation)
      : UnaryLayer(std::move(common)), activation_(std::move(activation)) {}

 protected:
  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    return activation_(b, x);
  }

 private:
  Activation activation_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeActivation(const ConfigView& cfg, LayerCommon common) {
  if (!cfg.json().contains("activation")) return cfg.ArgumentError("activation", "given");
  FORNAX_ASSIGN_OR_RETURN(Activation activation,
                          GetActivation(cfg.json()["activation"], cfg.context()));
  return std::make_unique<ActivationLayer>(std::move(common), std::move(activation));
}

}  // namespace fornax
