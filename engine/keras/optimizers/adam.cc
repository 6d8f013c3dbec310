// keras.optimizers.Adam (and AdamW, which is Adam with weight_decay set):
//   t = iteration + 1
//   alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
//   m += (g - m) * (1 - beta_1)
//   v += (g^2 - v) * (1 - beta_2)
//   v_hat = max(v_hat, v); v = v_hat   (amsgrad)
//   var -= m * alpha / (sqrt(v) + epsilon)
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"
#include "engine/keras/optimizers/optimizer.h"

namespace fornax {
namespace {

class Adam : public Optimizer {
 public:
  Adam(OptimizerOptions options, double beta_1, double beta_2, double epsilon, bool amsgrad)
      : Optimizer(std::move(options)),
        beta_1_(beta_1),
        beta_2_(beta_2),
        epsilon_(epsilon),
        amsgrad_(amsgrad) {}

 protected:
  void BuildSlots(VariableStore* store) override {
    std::vector<std::vector<int64_t>> slots = AddSlots(store, {"momentum", "velocity"});
    momentums_ = std::move(slots[0]);
    velocities_ = std::move(slots[1]);
    if (amsgrad_) velocity_hats_ = AddSlots(store, {"velocity_hat"})[0];
  }

  ValueId UpdateStep(Builder& b, size_t i, ValueId grad, ValueId var, ValueId lr) override {
    ValueId local_step = b.Cast(b.Add(iteration(), b.Scalar(1.0, DType::kInt64)), DType::kFloat32);
    ValueId one = b.Scalar(1.0);
    ValueId beta_1_power = b.Pow(b.Scalar(beta_1_), local_step);
    ValueId beta_2_power = b.Pow(b.Scalar(beta_2_), local_step);
    ValueId alpha = b.Div(b.Mul(lr, b.Sqrt(b.Sub(one, beta_2_power))), b.Sub(one, beta_1_power));
    ValueId m_old = Read(b, momentums_[i]);
    ValueId v_old = Read(b, velocities_[i]);
    ValueId m = b.Add(m_old, b.Mul(b.Sub(grad, m_old), b.Scalar(1.0 - beta_1_)));
    ValueId v = b.Add(v_old, b.Mul(b.Sub(b.Square(grad), v_old), b.Scalar(1.0 - beta_2_)));
    b.Assign(momentums_[i], m);
    b.Assign(velocities_[i], v);
    if (amsgrad_) {
      v = b.Maximum(Read(b, velocity_hats_[i]), v);
      b.Assign(velocity_hats_[i], v);
    }
    return b.Sub(var, b.Div(b.Mul(m, alpha), b.Add(b.Sqrt(v), b.Scalar(epsilon_))));
  }

 private:
  double beta_1_, beta_2_, epsilon_;
  bool amsgrad_;
  std::vector<int64_t> momentums_, velocities_, velocity_hats_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> MakeAdam(const ConfigReader& config,
                                                    OptimizerOptions options) {
  FORNAX_ASSIGN_OR_RETURN(double beta_1, config.Double("beta_1", 0.9));
  FORNAX_ASSIGN_OR_RETURN(double beta_2, config.Double("beta_2", 0.999));
  FORNAX_ASSIGN_OR_RETURN(double epsilon, config.Double("epsilon", 1e-7));
  FORNAX_ASSIGN_OR_RETURN(bool amsgrad, config.Bool("amsgrad", false));
  return std::make_unique<Adam>(std::move(options), beta_1, beta_2, epsilon, amsgrad);
}

}  // namespace fornax
