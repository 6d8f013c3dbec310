// keras.optimizers.RMSprop:
//   velocity = rho * velocity + (1 - rho) * g^2
//   centered: avg = rho * avg + (1 - rho) * g; denom = velocity - avg^2 + eps
//   else:     denom = velocity + eps
//   increment = lr * g / sqrt(denom)
//   momentum > 0: mom = momentum * mom + increment; var -= mom
//   else:         var -= increment
// Slots: all velocities, then all momentums, then all average gradients.
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"
#include "engine/keras/optimizers/optimizer.h"

namespace fornax {
namespace {

class Rmsprop : public Optimizer {
 public:
  Rmsprop(OptimizerOptions options, double rho, double momentum, double epsilon, bool centered)
      : Optimizer(std::move(options)),
        rho_(rho),
        momentum_(momentum),
        epsilon_(epsilon),
        centered_(centered) {}

 protected:
  void BuildSlots(VariableStore* store) override {
    velocities_ = AddSlots(store, {"velocity"})[0];
    if (momentum_ > 0) momentums_ = AddSlots(store, {"momentum"})[0];
    if (centered_) average_gradients_ = AddSlots(store, {"average_gradient"})[0];
  }

  ValueId UpdateStep(Builder& b, size_t i, ValueId grad, ValueId var, ValueId lr) override {
    ValueId rho = b.Scalar(rho_);
    ValueId one_minus_rho = b.Scalar(1.0 - rho_);
    ValueId velocity =
        b.Add(b.Mul(rho, Read(b, velocities_[i])), b.Mul(one_minus_rho, b.Square(grad)));
    b.Assign(velocities_[i], velocity);
    ValueId denominator;
    if (centered_) {
      ValueId average =
          b.Add(b.Mul(rho, Read(b, average_gradients_[i])), b.Mul(one_minus_rho, grad));
      b.Assign(average_gradients_[i], average);
      denominator = b.Add(b.Sub(velocity, b.Square(average)), b.Scalar(epsilon_));
    } else {
      denominator = b.Add(velocity, b.Scalar(epsilon_));
    }
    ValueId increment = b.Div(b.Mul(lr, grad), b.Sqrt(denominator));
    if (momentum_ > 0) {
      ValueId momentum = b.Add(b.Mul(b.Scalar(momentum_), Read(b, momentums_[i])), increment);
      b.Assign(momentums_[i], momentum);
      return b.Sub(var, momentum);
    }
    return b.Sub(var, increment);
  }

 private:
  double rho_, momentum_, epsilon_;
  bool centered_;
  std::vector<int64_t> velocities_, momentums_, average_gradients_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> MakeRmsprop(const ConfigReader& config,
                                                       OptimizerOptions options) {
  FORNAX_ASSIGN_OR_RETURN(double rho, config.Double("rho", 0.9));
  FORNAX_ASSIGN_OR_RETURN(double momentum, config.Double("momentum", 0.0));
  FORNAX_ASSIGN_OR_RETURN(double epsilon, config.Double("epsilon", 1e-7));
  FORNAX_ASSIGN_OR_RETURN(bool centered, config.Bool("centered", false));
  return std::make_unique<Rmsprop>(std::move(options), rho, momentum, epsilon, centered);
}

}  // namespace fornax
