// Concatenate: joins inputs along `axis` (keras.layers.Concatenate).
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Concatenate final : public Layer {
 public:
  Concatenate(LayerCommon common, int64_t axis) : Layer(std::move(common)), axis_(axis) {}

 protected:
  int num_inputs() const override { return -1; }

  std::vector<ValueId> Call(Builder& b, std::span<const ValueId> inputs,
                            const CallContext&) const override {
    return {b.Concat(std::vector<ValueId>(inputs.begin(), inputs.end()), axis_)};
  }

 private:
  int64_t axis_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeConcatenate(const ConfigView& cfg, LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(int64_t axis, cfg.Int("axis", -1));
  return std::make_unique<Concatenate>(std::move(common), axis);
}

}  // namespace fornax
