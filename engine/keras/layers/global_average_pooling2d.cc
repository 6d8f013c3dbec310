// GlobalAveragePooling2D: mean over height and width
// (keras.layers.GlobalAveragePooling2D), optionally keeping the dims.
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class GlobalAveragePooling2D final : public UnaryLayer {
 public:
  GlobalAveragePooling2D(LayerCommon common, bool keepdims)
      : UnaryLayer(std::move(common)), keepdims_(keepdims) {}

 protected:
  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    if (b.rank(x) != 4) {
      b.Fail(absl::InvalidArgumentError(
          absl::StrCat("expected an input of rank 4 (batch, height, width, channels), received ",
                       b.shape(x).ToString())));
      return kNoValue;
    }
    return b.Mean(x, {1, 2}, keepdims_);
  }

 private:
  bool keepdims_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeGlobalAveragePooling2D(const ConfigView& cfg,
                                                                  LayerCommon common) {
  FORNAX_RETURN_IF_ERROR(RequireChannelsLast(cfg));
  FORNAX_ASSIGN_OR_RETURN(bool keepdims, cfg.Bool("keepdims", false));
  return std::make_unique<GlobalAveragePooling2D>(std::move(common), keepdims);
}

}  // namespace fornax
