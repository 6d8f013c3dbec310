// The elementwise merge layers Add, Subtract and Multiply
// (keras.layers.Add / Subtract / Multiply): one class, one op each.
// Inputs broadcast as in Keras; Subtract takes exactly two.
#include "absl/strings/str_cat.h"
#include "engine/keras/layers/registry.h"

namespace fornax {
namespace {

class Merge final : public Layer {
 public:
  Merge(LayerCommon common, Op op) : Layer(std::move(common)), op_(op) {}

 protected:
  int num_inputs() const override { return -1; }

  absl::Status BuildImpl(std::span<const TensorSpec> inputs) override {
    if (op_ == Op::kSub && inputs.size() != 2) {
      return Error(
          absl::StrCat("A `Subtract` layer should be called on exactly 2 inputs. "
                       "Received: ",
                       inputs.size(), " inputs"));
    }
    return absl::OkStatus();
  }

  std::vector<ValueId> Call(Builder& b, std::span<const ValueId> inputs,
                            const CallContext&) const override {
    ValueId y = inputs[0];
    for (size_t i = 1; i < inputs.size(); ++i) y = b.Binary(op_, y, inputs[i]);
    return {y};
  }

 private:
  Op op_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Layer>> MakeMerge(const ConfigView&, LayerCommon common) {
  const Op op = common.class_name == "Add"        ? Op::kAdd
                : common.class_name == "Subtract" ? Op::kSub
                                                  : Op::kMul;
  return std::make_unique<Merge>(std::move(common), op);
}

}  // namespace fornax
