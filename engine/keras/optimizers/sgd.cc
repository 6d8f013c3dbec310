// keras.optimizers.SGD: plain, momentum and Nesterov momentum.
//   m = m * momentum - g * lr
//   var += m                      (momentum)
//   var += m * momentum - g * lr  (nesterov, with the updated m)
//   var -= g * lr                 (momentum == 0: no slots)
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"
#include "engine/keras/optimizers/optimizer.h"

namespace fornax {
namespace {

class Sgd : public Optimizer {
 public:
  Sgd(OptimizerOptions options, double momentum, bool nesterov)
      : Optimizer(std::move(options)), momentum_(momentum), nesterov_(nesterov) {}

 protected:
  void BuildSlots(VariableStore* store) override {
    if (momentum_ != 0) momentums_ = AddSlots(store, {"momentum"})[0];
  }
  ValueId UpdateStep(Builder& b, size_t i, ValueId grad, ValueId var, ValueId lr) override {
    ValueId step = b.Mul(grad, lr);
    if (momentum_ == 0) return b.Sub(var, step);
    ValueId momentum = b.Scalar(momentum_);
    ValueId m = b.Sub(b.Mul(Read(b, momentums_[i]), momentum), step);
    b.Assign(momentums_[i], m);
    if (nesterov_) return b.Add(var, b.Sub(b.Mul(m, momentum), step));
    return b.Add(var, m);
  }

 private:
  double momentum_;
  bool nesterov_;
  std::vector<int64_t> momentums_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> MakeSgd(const ConfigReader& config,
                                                   OptimizerOptions options) {
  FORNAX_ASSIGN_OR_RETURN(double momentum, config.Double("momentum", 0.0));
  FORNAX_ASSIGN_OR_RETURN(bool nesterov, config.Bool("nesterov", false));
  if (momentum < 0 || momentum > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.what(), ": field \"momentum\" must be a float in [0, 1], received: ", momentum));
  }
  return std::make_unique<Sgd>(std::move(options), momentum, nesterov);
}

}  // namespace fornax
