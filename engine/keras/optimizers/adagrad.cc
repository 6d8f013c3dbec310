// keras.optimizers.Adagrad:
//   accumulator += g^2            (starts at initial_accumulator_value)
//   var -= lr * g / sqrt(accumulator + epsilon)
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"
#include "engine/keras/optimizers/optimizer.h"

namespace fornax {
namespace {

class Adagrad : public Optimizer {
 public:
  Adagrad(OptimizerOptions options, double initial_accumulator_value, double epsilon)
      : Optimizer(std::move(options)),
        initial_accumulator_value_(initial_accumulator_value),
        epsilon_(epsilon) {}

 protected:
  void BuildSlots(VariableStore* store) override {
    accumulators_ =
        AddSlots(store, {"accumulator"}, static_cast<float>(initial_accumulator_value_))[0];
  }

  ValueId UpdateStep(Builder& b, size_t i, ValueId grad, ValueId var, ValueId lr) override {
    ValueId accumulator = b.Add(Read(b, accumulators_[i]), b.Square(grad));
    b.Assign(accumulators_[i], accumulator);
    return b.Sub(var, b.Div(b.Mul(lr, grad), b.Sqrt(b.Add(accumulator, b.Scalar(epsilon_)))));
  }

 private:
  double initial_accumulator_value_, epsilon_;
  std::vector<int64_t> accumulators_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> MakeAdagrad(const ConfigReader& config,
                                                       OptimizerOptions options) {
  FORNAX_ASSIGN_OR_RETURN(double initial, config.Double("initial_accumulator_value", 0.1));
  FORNAX_ASSIGN_OR_RETURN(double epsilon, config.Double("epsilon", 1e-7));
  return std::make_unique<Adagrad>(std::move(options), initial, epsilon);
}

}  // namespace fornax
