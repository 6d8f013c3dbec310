// Rescaling: x * scale + offset (keras.layers.Rescaling); scale and offset
// are numbers or per-channel lists.
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Rescaling final : public UnaryLayer {
 public:
  Rescaling(LayerCommon common, std::vector<float> scale, std::vector<float> offset)
      : UnaryLayer(std::move(common)), scale_(std::move(scale)), offset_(std::move(offset)) {}

 protected:
  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    return b.Add(b.Mul(x, Value(b, scale_)), Value(b, offset_));
  }

 private:
  static ValueId Value(Builder& b, const std::vector<float>& v) {
    if (v.size() == 1) return b.Scalar(v[0]);
    return b.Constant(Tensor::FromFloats(Shape{static_cast<int64_t>(v.size())}, v));
  }

  std::vector<float> scale_, offset_;
};

absl::StatusOr<std::vector<float>> NumberOrList(const ConfigView& cfg, const std::string& key,
                                                double fallback) {
  const nlohmann::json* v = cfg.Find(key);
  if (v == nullptr) return std::vector<float>{static_cast<float>(fallback)};
  if (v->is_number()) return std::vector<float>{v->get<float>()};
  if (!v->is_array() || v->empty()) return cfg.ArgumentError(key, "a number or a list of numbers");
  std::vector<float> out;
  for (const auto& e : *v) {
    if (!e.is_number()) return cfg.ArgumentError(key, "a number or a list of numbers");
    out.push_back(e.get<float>());
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeRescaling(const ConfigView& cfg, LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<float> scale, NumberOrList(cfg, "scale", 1.0));
  FORNAX_ASSIGN_OR_RETURN(std::vector<float> offset, NumberOrList(cfg, "offset", 0.0));
  return std::make_unique<Rescaling>(std::move(common), std::move(scale), std::move(offset));
}

}  // namespace fornax
