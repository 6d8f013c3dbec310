// Dense: activation(x @ kernel + bias) on the last axis (keras.layers.Dense).
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/activations.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Dense final : public UnaryLayer {
 public:
  Dense(LayerCommon common, int64_t units, Activation activation, bool use_bias,
        std::shared_ptr<const Initializer> kernel_init,
        std::shared_ptr<const Initializer> bias_init, std::optional<Regularizer> kernel_reg,
        std::optional<Regularizer> bias_reg)
      : UnaryLayer(std::move(common)),
        units_(units),
        activation_(std::move(activation)),
        use_bias_(use_bias),
        kernel_init_(std::move(kernel_init)),
        bias_init_(std::move(bias_init)),
        kernel_reg_(kernel_reg),
        bias_reg_(bias_reg) {}

 protected:
  absl::Status BuildImpl(std::span<const TensorSpec> inputs) override {
    const Shape& shape = inputs[0].shape;
    if (shape.rank() < 2 || shape.dim(shape.rank() - 1) < 0) {
      return Error(
          absl::StrCat("expected an input of rank >= 2 with a known last dimension, "
                       "received ",
                       shape.ToString()));
    }
    input_dim_ = shape.dim(shape.rank() - 1);
    kernel_ = AddWeight("kernel", Shape{input_dim_, units_}, kernel_init_, kernel_reg_);
    if (use_bias_) bias_ = AddWeight("bias", Shape{units_}, bias_init_, bias_reg_);
    return absl::OkStatus();
  }

  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    const Shape shape = b.shape(x);
    if (shape.rank() < 1 || shape.dim(shape.rank() - 1) != input_dim_) {
      b.Fail(absl::InvalidArgumentError(absl::StrCat("expected input with last dimension ",
                                                     input_dim_, ", received ", shape.ToString())));
      return kNoValue;
    }
    ValueId kernel = Weight(b, kernel_);
    ValueId y = shape.rank() == 2 ? b.MatMul(x, kernel) : MatMulLastAxis(b, x, kernel);
    if (use_bias_) y = b.Add(y, Weight(b, bias_));
    return activation_(b, y);
  }

 private:
  // MatMul is 2-D and the batch dimension cannot merge with the others in a
  // Reshape, so rank > 2 inputs go through one MatMul per (non-batch) row
  // position: (B, d1.., in) -> (B, D, in) -> D slices -> concat -> (B, d1.., units).
  ValueId MatMulLastAxis(Builder& b, ValueId x, ValueId kernel) const {
    const Shape shape = b.shape(x);
    int64_t rows = 1;
    for (int i = 1; i < shape.rank() - 1; ++i) rows *= shape.dim(i);
    ValueId flat = b.Reshape(x, Shape{shape.dim(0), rows, input_dim_});
    std::vector<ValueId> parts;
    for (int64_t r = 0; r < rows; ++r) {
      ValueId row = b.Reshape(b.Slice(flat, 1, r, r + 1), Shape{shape.dim(0), input_dim_});
      parts.push_back(b.Reshape(b.MatMul(row, kernel), Shape{shape.dim(0), 1, units_}));
    }
    ValueId y = parts.size() == 1 ? parts[0] : b.Concat(parts, 1);
    std::vector<int64_t> out = shape.dims();
    out.back() = units_;
    return b.Reshape(y, Shape(out));
  }

  int64_t units_;
  Activation activation_;
  bool use_bias_;
  std::shared_ptr<const Initializer> kernel_init_, bias_init_;
  std::optional<Regularizer> kernel_reg_, bias_reg_;
  int64_t input_dim_ = 0;
  int kernel_ = -1, bias_ = -1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeDense(const ConfigView& cfg, LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(int64_t units, cfg.PositiveInt("units"));
  FORNAX_ASSIGN_OR_RETURN(Activation activation,
                          GetActivation(Field(cfg.json(), "activation"), cfg.context()));
  FORNAX_ASSIGN_OR_RETURN(bool use_bias, cfg.Bool("use_bias", true));
  FORNAX_ASSIGN_OR_RETURN(auto kernel_init,
                          InitializerArg(cfg, "kernel_initializer", "glorot_uniform"));
  FORNAX_ASSIGN_OR_RETURN(auto bias_init, InitializerArg(cfg, "bias_initializer", "zeros"));
  FORNAX_ASSIGN_OR_RETURN(auto kernel_reg, RegularizerArg(cfg, "kernel_regularizer"));
  FORNAX_ASSIGN_OR_RETURN(auto bias_reg, RegularizerArg(cfg, "bias_regularizer"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "kernel_constraint"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "bias_constraint"));
  if (cfg.Has("lora_rank")) return cfg.Error("LoRA (`lora_rank`) is not supported");
  if (cfg.Has("quantization_config")) return cfg.Error("quantized Dense is not supported");
  return std::make_unique<Dense>(std::move(common), units, std::move(activation), use_bias,
                                 std::move(kernel_init), std::move(bias_init), kernel_reg,
                                 bias_reg);
}

}  // namespace fornax
