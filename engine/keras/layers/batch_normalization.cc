// BatchNormalization (keras.layers.BatchNormalization).
//
// Training (and trainable): normalizes with the batch mean and the biased
// batch variance (jnp.var), and updates the moving statistics as Keras 3 does:
//   moving = moving * momentum + batch * (1 - momentum)
// through Builder::Assign. Inference: normalizes with the moving statistics.
// Weights, in Keras's order: gamma, beta, moving_mean, moving_variance.
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/normalization.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

struct BatchNormOptions {
  int64_t axis = -1;
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool center = true;
  bool scale = true;
};

class BatchNormalization final : public UnaryLayer {
 public:
  BatchNormalization(LayerCommon common, BatchNormOptions o,
                     std::shared_ptr<const Initializer> beta_init,
                     std::shared_ptr<const Initializer> gamma_init,
                     std::shared_ptr<const Initializer> mean_init,
                     std::shared_ptr<const Initializer> variance_init,
                     std::optional<Regularizer> beta_reg, std::optional<Regularizer> gamma_reg)
      : UnaryLayer(std::move(common)),
        o_(o),
        beta_init_(std::move(beta_init)),
        gamma_init_(std::move(gamma_init)),
        mean_init_(std::move(mean_init)),
        variance_init_(std::move(variance_init)),
        beta_reg_(beta_reg),
        gamma_reg_(gamma_reg) {}

 protected:
  absl::Status BuildImpl(std::span<const TensorSpec> inputs) override {
    const Shape& shape = inputs[0].shape;
    axis_ = o_.axis < 0 ? o_.axis + shape.rank() : o_.axis;
    if (axis_ < 1 || axis_ >= shape.rank()) {
      return Error(absl::StrCat("argument `axis` must be a non-batch axis of the input ",
                                shape.ToString(), ". Received: axis=", o_.axis));
    }
    const Shape param{shape.dim(static_cast<int>(axis_))};
    if (o_.scale) gamma_ = AddWeight("gamma", param, gamma_init_, gamma_reg_);
    if (o_.center) beta_ = AddWeight("beta", param, beta_init_, beta_reg_);
    moving_mean_ = AddWeight("moving_mean", param, mean_init_, std::nullopt, false);
    moving_variance_ = AddWeight("moving_variance", param, variance_init_, std::nullopt, false);
    return absl::OkStatus();
  }

  ValueId CallOne(Builder& b, ValueId x, const CallContext& ctx) const override {
    const int rank = b.rank(x);
    // Statistics are (C,); for a channel axis other than the last they are
    // reshaped to (C, 1, ..., 1) to broadcast.
    auto broadcastable = [&](ValueId v) {
      if (axis_ == rank - 1) return v;
      std::vector<int64_t> dims(static_cast<size_t>(rank - axis_), 1);
      dims[0] = b.shape(v).dim(0);
      return b.Reshape(v, Shape(dims));
    };
    ValueId gamma = o_.scale ? broadcastable(Weight(b, gamma_)) : kNoValue;
    ValueId beta = o_.center ? broadcastable(Weight(b, beta_)) : kNoValue;
    ValueId moving_mean = Weight(b, moving_mean_);
    ValueId moving_variance = Weight(b, moving_variance_);
    if (!ctx.training || !trainable()) {
      return Normalize(b, x, broadcastable(moving_mean), broadcastable(moving_variance), gamma,
                       beta, o_.epsilon);
    }
    std::vector<int64_t> reduce;
    for (int i = 0; i < rank; ++i) {
      if (i != axis_) reduce.push_back(i);
    }
    ValueId mean = b.Mean(x, reduce);                                            // (C,)
    ValueId variance = b.Mean(b.Square(b.Sub(x, broadcastable(mean))), reduce);  // biased
    ValueId keep = b.Scalar(o_.momentum);
    ValueId take = b.Scalar(1.0 - o_.momentum);
    b.Assign(weights()[static_cast<size_t>(moving_mean_)].index,
             b.Add(b.Mul(moving_mean, keep), b.Mul(mean, take)));
    b.Assign(weights()[static_cast<size_t>(moving_variance_)].index,
             b.Add(b.Mul(moving_variance, keep), b.Mul(variance, take)));
    return Normalize(b, x, broadcastable(mean), broadcastable(variance), gamma, beta, o_.epsilon);
  }

 private:
  BatchNormOptions o_;
  std::shared_ptr<const Initializer> beta_init_, gamma_init_, mean_init_, variance_init_;
  std::optional<Regularizer> beta_reg_, gamma_reg_;
  int64_t axis_ = -1;
  int gamma_ = -1, beta_ = -1, moving_mean_ = -1, moving_variance_ = -1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeBatchNormalization(const ConfigView& cfg,
                                                              LayerCommon common) {
  BatchNormOptions o;
  FORNAX_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                          cfg.IntOrInts("axis", std::vector<int64_t>{-1}));
  if (axes.size() != 1) return cfg.ArgumentError("axis", "a single axis");
  o.axis = axes[0];
  FORNAX_ASSIGN_OR_RETURN(o.momentum, cfg.Float("momentum", 0.99));
  FORNAX_ASSIGN_OR_RETURN(o.epsilon, cfg.Float("epsilon", 1e-3));
  FORNAX_ASSIGN_OR_RETURN(o.center, cfg.Bool("center", true));
  FORNAX_ASSIGN_OR_RETURN(o.scale, cfg.Bool("scale", true));
  FORNAX_ASSIGN_OR_RETURN(bool renorm, cfg.Bool("renorm", false));
  if (renorm) return cfg.ArgumentError("renorm", "False (batch renormalization is not supported)");
  FORNAX_ASSIGN_OR_RETURN(bool synchronized, cfg.Bool("synchronized", false));
  if (synchronized) return cfg.ArgumentError("synchronized", "False");
  FORNAX_ASSIGN_OR_RETURN(auto beta_init, InitializerArg(cfg, "beta_initializer", "zeros"));
  FORNAX_ASSIGN_OR_RETURN(auto gamma_init, InitializerArg(cfg, "gamma_initializer", "ones"));
  FORNAX_ASSIGN_OR_RETURN(auto mean_init, InitializerArg(cfg, "moving_mean_initializer", "zeros"));
  FORNAX_ASSIGN_OR_RETURN(auto variance_init,
                          InitializerArg(cfg, "moving_variance_initializer", "ones"));
  FORNAX_ASSIGN_OR_RETURN(auto beta_reg, RegularizerArg(cfg, "beta_regularizer"));
  FORNAX_ASSIGN_OR_RETURN(auto gamma_reg, RegularizerArg(cfg, "gamma_regularizer"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "beta_constraint"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "gamma_constraint"));
  return std::make_unique<BatchNormalization>(std::move(common), o, std::move(beta_init),
                                              std::move(gamma_init), std::move(mean_init),
                                              std::move(variance_init), beta_reg, gamma_reg);
}

}  // namespace fornax
