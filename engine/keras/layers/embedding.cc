// Embedding: integer ids -> rows of an (input_dim, output_dim) table
// (keras.layers.Embedding), as a Gather. Float ids are cast to int32 as
// Keras does.
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Embedding final : public UnaryLayer {
 public:
  Embedding(LayerCommon common, int64_t input_dim, int64_t output_dim,
            std::shared_ptr<const Initializer> init, std::optional<Regularizer> reg)
      : UnaryLayer(std::move(common)),
        input_dim_(input_dim),
        output_dim_(output_dim),
        init_(std::move(init)),
        reg_(reg) {}

 protected:
  bool keeps_input_dtype() const override { return true; }

  absl::Status BuildImpl(std::span<const TensorSpec>) override {
    embeddings_ = AddWeight("embeddings", Shape{input_dim_, output_dim_}, init_, reg_);
    return absl::OkStatus();
  }

  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    const DType dtype = b.dtype(x);
    if (dtype != DType::kInt32 && dtype != DType::kInt64) x = b.Cast(x, DType::kInt32);
    return b.Gather(Weight(b, embeddings_), x);
  }

 private:
  int64_t input_dim_, output_dim_;
  std::shared_ptr<const Initializer> init_;
  std::optional<Regularizer> reg_;
  int embeddings_ = -1;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeEmbedding(const ConfigView& cfg, LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(int64_t input_dim, cfg.PositiveInt("input_dim"));
  FORNAX_ASSIGN_OR_RETURN(int64_t output_dim, cfg.PositiveInt("output_dim"));
  FORNAX_ASSIGN_OR_RETURN(auto init, InitializerArg(cfg, "embeddings_initializer", "uniform"));
  FORNAX_ASSIGN_OR_RETURN(auto reg, RegularizerArg(cfg, "embeddings_regularizer"));
  FORNAX_RETURN_IF_ERROR(RefuseConstraint(cfg, "embeddings_constraint"));
  FORNAX_ASSIGN_OR_RETURN(bool mask_zero, cfg.Bool("mask_zero", false));
  if (mask_zero) {
    return cfg.ArgumentError("mask_zero", "False (masking is not supported yet)");
  }
  if (cfg.Has("lora_rank")) return cfg.Error("LoRA (`lora_rank`) is not supported");
  if (cfg.Has("quantization_config")) return cfg.Error("quantized Embedding is not supported");
  return std::make_unique<Embedding>(std::move(common), input_dim, output_dim, std::move(init),
                                     reg);
}

}  // namespace fornax
