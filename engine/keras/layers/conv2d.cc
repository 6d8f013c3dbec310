// Conv2D: 2-D convolution on NHWC inputs with an HWIO kernel, then bias and
// activation (keras.layers.Conv2D). channels_last only.
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/activations.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

struct Conv2DOptions {
  int64_t filters = 0;
  std::array<int64_t, 2> kernel_size{1, 1};
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> dilation{1, 1};
  Padding padding = Padding::kValid;
  bool use_bias = true;
};

class Conv2D final : public UnaryLayer {
 public:
  Conv2D(LayerCommon common, Conv2DOptions options, Activation activation,
         std::shared_ptr<const Initializer> kernel_init,
         std::shared_ptr<const Initializer> bias_init, std::optional<Regularizer> kernel_reg,
         std::optional<Regularizer> bias_reg)
      : UnaryLayer(std::move(common)),
        o_(options),
        activation_(std::move(activation)),
        kernel_init_(std::move(kernel_init)),
        bias_init_(std::move(bias_init)),
        kernel_reg_(kernel_reg),
        bias_reg_(bias_reg) {}

 protected:
  absl::Status BuildImpl(std::span<const TensorSpec> inputs) override {
    const Shape& shape = inputs[0].shape;
    if (shape.rank() != 4) {
      return Error(
          absl::StrCat("expected an input of rank 4 (batch, height, width, channels), "
                       "received ",
                       shape.ToString()));
    }
    channels_ = shape.dim(3);
    kernel_ =
        AddWeight("kernel", Shape{o_.kernel_size[0], o_.kernel_size[1], channels_, o_.filters},
                  kernel_init_, kernel_reg_);
    if (o_.use_bias) bias_ = AddWeight("bias", Shape{o_.filters}, bias_init_, bias_reg_);
    return absl::OkStatus();
  }

  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    const Shape shape = b.shape(x);
    if (shape.rank() != 4 || shape.dim(3) != channels_) {
      b.Fail(absl::InvalidArgumentError(absl::StrCat("expected input of rank 4 with ", channels_,
                                                     " channels, received ", shape.ToString())));
      return kNoValue;
    }
    ValueId y = b.Conv2D(x, Weight(b, kernel_), o_.strides, o_.padding, o_.dilation);
    if (o_.use_bias) y = b.Add(y, Weight(b, bias_));
    return activation_(b, y);
  }

 private:
  Conv2DOptions o_;
  Activation activation_;
  std::shared_ptr<const Initializer> kernel_init_, bias_init_;
  std::optional<Regularizer> kernel_reg_, bias_reg_;
  int64_t channels_ = 0;
  int kernel_ = -1, bias_ = -1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeConv2D(const ConfigView& cfg, LayerCommon common) {
  Conv2DOptions o;
  FORNAX_ASSIGN_OR_RETURN(o.filters, cfg.PositiveInt("filters"));
  FORNAX_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, cfg.PositiveInts("kernel_size", 2));
  FORNAX_ASSIGN_OR_RETURN(std::vector<int64_t> strides,
                          cfg.PositiveInts("strides", 2, std::vector<int64_t>{1, 1}));
  FORNAX_ASSIGN_OR_RETURN(std::vector<int64_t> dilation,
                          cfg.PositiveInts("dilation_rate", 2, std::vector<int64_t>{1, 1}));
  o.kernel_size = {kernel[0], kernel[1]};
  o.strides = {strides[0], strides[1]};
  o.dilation = {dilation[0], dilation[1]};
  if ((o.strides[0] > 1 || o.strides[1] > 1) && (o.dilation[0] > 1 || o.dilation[1] > 1)) {
    return cfg.Error("`strides > 1` not supported in conjunction with `dilation_rate > 1`");
  }
  FORNAX_ASSIGN_OR_RETURN(o.padding, PaddingArg(cfg));
  FORNAX_RETURN_IF_ERROR(RequireChannelsLast(cfg));
  FORNAX_ASSIGN_OR_RETURN(int64_t groups, cfg.PositiveInt("groups", 1));
  if (groups != 1) return cfg.ArgumentError("groups", "1 (grouped convolution is not supported)");
  FORNAX_ASSIGN_OR_RETURN(o.use_bias, cfg.Bool("use_bias", true));
  FORNAX_ASSIGN_OR_RETURN(Activation activation,
                          GetActivation(Field(cfg.json(), "activation"), cfg.context()));
  FORNAX_ASSIGN_OR_RETURN(auto kernel_init,
                          InitializerArg(cfg, "kernel_initializer", "glorot_uniform"));
  FORNAX_ASSIGN_OR_RETURN(auto bias_init, InitializerArg(cfg, "bias_initializer", "zeros"));
  FORNAX_ASSIGN_OR_RETURN(auto kernel_reg, RegularizerArg(cfg, "kernel_regularizer"));
  FORNAX_ASSIGN_OR_RETURN(auto bias_reg, RegularizerArg(cfg, "bias_regularizer"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "kernel_constraint"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "bias_constraint"));
  return std::make_unique<Conv2D>(std::move(common), o, std::move(activation),
                                  std::move(kernel_init), std::move(bias_init), kernel_reg,
                                  bias_reg);
}

}  // namespace fornax
