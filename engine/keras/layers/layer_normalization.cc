// LayerNormalization (keras.layers.LayerNormalization): normalizes over
// `axis` (an int or a list) with the biased variance; gamma and beta have the
// shape of those axes.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/normalization.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class LayerNormalization final : public UnaryLayer {
 public:
  LayerNormalization(LayerCommon common, std::vector<int64_t> axes, double epsilon, bool center,
                     bool scale, std::shared_ptr<const Initializer> beta_init,
                     std::shared_ptr<const Initializer> gamma_init,
                     std::optional<Regularizer> beta_reg, std::optional<Regularizer> gamma_reg)
      : UnaryLayer(std::move(common)),
        config_axes_(std::move(axes)),
        epsilon_(epsilon),
        center_(center),
        scale_(scale),
        beta_init_(std::move(beta_init)),
        gamma_init_(std::move(gamma_init)),
        beta_reg_(beta_reg),
        gamma_reg_(gamma_reg) {}

 protected:
  absl::Status BuildImpl(std::span<const TensorSpec> inputs) override {
    const Shape& shape = inputs[0].shape;
    for (int64_t a : config_axes_) {
      const int64_t axis = a < 0 ? a + shape.rank() : a;
      if (axis < 1 || axis >= shape.rank()) {
        return Error(absl::StrCat("argument `axis` must name non-batch axes of the input ",
                                  shape.ToString(), ". Received: axis=", a));
      }
      axes_.push_back(axis);
    }
    std::sort(axes_.begin(), axes_.end());
    std::vector<int64_t> param_dims;
    broadcast_dims_.assign(static_cast<size_t>(shape.rank()), 1);
    for (int64_t axis : axes_) {
      param_dims.push_back(shape.dim(static_cast<int>(axis)));
      broadcast_dims_[static_cast<size_t>(axis)] = shape.dim(static_cast<int>(axis));
    }
    if (scale_) gamma_ = AddWeight("gamma", Shape(param_dims), gamma_init_, gamma_reg_);
    if (center_) beta_ = AddWeight("beta", Shape(param_dims), beta_init_, beta_reg_);
    return absl::OkStatus();
  }

  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    auto broadcastable = [&](ValueId v) { return b.Reshape(v, Shape(broadcast_dims_)); };
    ValueId mean = b.Mean(x, axes_, /*keepdims=*/true);
    ValueId variance = b.Mean(b.Square(b.Sub(x, mean)), axes_, /*keepdims=*/true);
    ValueId gamma = scale_ ? broadcastable(Weight(b, gamma_)) : kNoValue;
    ValueId beta = center_ ? broadcastable(Weight(b, beta_)) : kNoValue;
    return Normalize(b, x, mean, variance, gamma, beta, epsilon_);
  }

 private:
  std::vector<int64_t> config_axes_;
  double epsilon_;
  bool center_, scale_;
  std::shared_ptr<const Initializer> beta_init_, gamma_init_;
  std::optional<Regularizer> beta_reg_, gamma_reg_;
  std::vector<int64_t> axes_;            // normalized, sorted
  std::vector<int64_t> broadcast_dims_;  // 1 except at axes_
  int gamma_ = -1, beta_ = -1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeLayerNormalization(const ConfigView& cfg,
                                                              LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                          cfg.IntOrInts("axis", std::vector<int64_t>{-1}));
  FORNAX_ASSIGN_OR_RETURN(double epsilon, cfg.Float("epsilon", 1e-3));
  FORNAX_ASSIGN_OR_RETURN(bool center, cfg.Bool("center", true));
  FORNAX_ASSIGN_OR_RETURN(bool scale, cfg.Bool("scale", true));
  FORNAX_ASSIGN_OR_RETURN(bool rms_scaling, cfg.Bool("rms_scaling", false));
  if (rms_scaling) return cfg.ArgumentError("rms_scaling", "False (deprecated in Keras)");
  FORNAX_ASSIGN_OR_RETURN(auto beta_init, InitializerArg(cfg, "beta_initializer", "zeros"));
  FORNAX_ASSIGN_OR_RETURN(auto gamma_init, InitializerArg(cfg, "gamma_initializer", "ones"));
  FORNAX_ASSIGN_OR_RETURN(auto beta_reg, RegularizerArg(cfg, "beta_regularizer"));
  FORNAX_ASSIGN_OR_RETURN(auto gamma_reg, RegularizerArg(cfg, "gamma_regularizer"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "beta_constraint"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "gamma_constraint"));
  return std::make_unique<LayerNormalization>(std::move(common), std::move(axes), epsilon, center,
                                              scale, std::move(beta_init), std::move(gamma_init),
                                              beta_reg, gamma_reg);
}

}  // namespace fornax
