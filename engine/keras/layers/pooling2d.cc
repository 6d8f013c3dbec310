// MaxPooling2D and AveragePooling2D (keras.layers.MaxPooling2D /
// AveragePooling2D): one class, the op differs. strides default to
// pool_size; 'same' averages over the valid cells only, as Keras.
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Pooling2D final : public UnaryLayer {
 public:
  Pooling2D(LayerCommon common, bool is_max, std::array<int64_t, 2> window,
            std::array<int64_t, 2> strides, Padding padding)
      : UnaryLayer(std::move(common)),
        is_max_(is_max),
        window_(window),
        strides_(strides),
        padding_(padding) {}

 protected:
  ValueId CallOne(Builder& b, ValueId x, const CallContext&) const override {
    if (b.rank(x) != 4) {
      b.Fail(absl::InvalidArgumentError(
          absl::StrCat("expected an input of rank 4 (batch, height, width, channels), received ",
                       b.shape(x).ToString())));
      return kNoValue;
    }
    return is_max_ ? b.MaxPool2D(x, window_, strides_, padding_)
                   : b.AvgPool2D(x, window_, strides_, padding_);
  }

 private:
  bool is_max_;
  std::array<int64_t, 2> window_, strides_;
  Padding padding_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakePooling2D(const ConfigView& cfg, LayerCommon common) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<int64_t> pool,
                          cfg.PositiveInts("pool_size", 2, std::vector<int64_t>{2, 2}));
  FORNAX_ASSIGN_OR_RETURN(std::vector<int64_t> strides, cfg.PositiveInts("strides", 2, pool));
  FORNAX_ASSIGN_OR_RETURN(Padding padding, PaddingArg(cfg));
  FORNAX_RETURN_IF_ERROR(RequireChannelsLast(cfg));
  const bool is_max = common.class_name == "MaxPooling2D";
  return std::make_unique<Pooling2D>(std::move(common), is_max,
                                     std::array<int64_t, 2>{pool[0], pool[1]},
                                     std::array<int64_t, 2>{strides[0], strides[1]}, padding);
}

}  // namespace fornax
