// Dropout (keras.layers.Dropout). Training: keep each element with
// probability 1 - rate and scale kept ones by 1 / (1 - rate); the mask is
// RandomUniform(shape, stream) >= rate. Inference: identity.
//
// The stream id is derived from the layer name, its config seed and the call
// index, so a run is deterministic and two Dropout layers never share masks.
#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

class Dropout final : public UnaryLayer {
 public:
  Dropout(LayerCommon common, double rate, std::optional<std::vector<int64_t>> noise_shape,
          int64_t seed)
      : UnaryLayer(std::move(common)),
        rate_(rate),
        noise_shape_(std::move(noise_shape)),
        seed_(seed) {}

 protected:
  absl::Status BuildImpl(std::span<const TensorSpec> inputs) override {
    if (noise_shape_ && static_cast<int>(noise_shape_->size()) != inputs[0].shape.rank()) {
      return Error(absl::StrCat("argument `noise_shape` must have the input's rank ",
                                inputs[0].shape.rank(), ", received ", noise_shape_->size(),
                                " dimensions"));
    }
    return absl::OkStatus();
  }

  ValueId CallOne(Builder& b, ValueId x, const CallContext& ctx) const override {
    if (!ctx.training || rate_ == 0.0) return x;
    Shape mask_shape = b.shape(x);
    if (noise_shape_) {
      for (int i = 0; i < mask_shape.rank(); ++i) {
        const int64_t d = (*noise_shape_)[static_cast<size_t>(i)];
        if (d >= 0) mask_shape.mutable_dims()[static_cast<size_t>(i)] = d;
      }
    }
    const uint64_t key = MixSeed(MixSeed(Fnv1a(name()), static_cast<uint64_t>(seed_)),
                                 static_cast<uint64_t>(ctx.call_index));
    const auto stream = static_cast<int64_t>(key >> 2);  // non-negative
    ValueId keep =
        b.Binary(Op::kGreaterEqual, b.RandomUniform(mask_shape, stream), b.Scalar(rate_));
    return b.Where(keep, b.Mul(x, b.Scalar(1.0 / (1.0 - rate_))), b.Scalar(0.0));
  }

 private:
  double rate_;
  std::optional<std::vector<int64_t>> noise_shape_;  // -1 = the input's dim
  int64_t seed_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeDropout(const ConfigView& cfg, LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(double rate, cfg.Float("rate"));
  if (!(rate >= 0.0 && rate < 1.0)) {
    return cfg.ArgumentError("rate", "a float value between 0 and 1");
  }
  FORNAX_ASSIGN_OR_RETURN(int64_t seed, cfg.Int("seed", 0));
  std::optional<std::vector<int64_t>> noise_shape;
  if (const nlohmann::json* ns = cfg.Find("noise_shape")) {
    if (!ns->is_array()) return cfg.ArgumentError("noise_shape", "a list of ints or None");
    noise_shape.emplace();
    for (const auto& d : *ns) {
      if (d.is_null()) {
        noise_shape->push_back(-1);
      } else if (d.is_number_integer() && d.get<int64_t>() >= 1) {
        noise_shape->push_back(d.get<int64_t>());
      } else {
        return cfg.ArgumentError("noise_shape", "a list of positive ints or None");
      }
    }
  }
  return std::make_unique<Dropout>(std::move(common), rate, std::move(noise_shape), seed);
}

}  // namespace fornax
