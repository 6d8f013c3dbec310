// keras.optimizers.schedules.ExponentialDecay:
//   lr0 * decay_rate ^ (step / decay_steps), the exponent floored when staircase.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"
#include "engine/keras/schedules/learning_rate_schedule.h"

namespace fornax {
namespace {

class ExponentialDecay : public LearningRateSchedule {
 public:
  ExponentialDecay(float initial, float decay_steps, float decay_rate, bool staircase)
      : initial_(initial),
        decay_steps_(decay_steps),
        decay_rate_(decay_rate),
        staircase_(staircase) {}
  float operator()(int64_t step) const override {
    float p = static_cast<float>(step) / decay_steps_;
    if (staircase_) p = std::floor(p);
    return initial_ * std::pow(decay_rate_, p);
  }

 private:
  float initial_, decay_steps_, decay_rate_;
  bool staircase_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LearningRateSchedule>> MakeExponentialDecay(
    const ConfigReader& config) {
  FORNAX_ASSIGN_OR_RETURN(double initial, config.Double("initial_learning_rate", -1));
  FORNAX_ASSIGN_OR_RETURN(double decay_steps, config.Double("decay_steps", 0));
  FORNAX_ASSIGN_OR_RETURN(double decay_rate, config.Double("decay_rate", -1));
  FORNAX_ASSIGN_OR_RETURN(bool staircase, config.Bool("staircase", false));
  if (!config.Has("initial_learning_rate") || !config.Has("decay_rate")) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.what(), ": fields \"initial_learning_rate\" and \"decay_rate\" are required"));
  }
  if (decay_steps <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.what(), ": field \"decay_steps\" must be > 0, received: ", decay_steps));
  }
  return std::make_unique<ExponentialDecay>(static_cast<float>(initial),
                                            static_cast<float>(decay_steps),
                                            static_cast<float>(decay_rate), staircase);
}

}  // namespace fornax
