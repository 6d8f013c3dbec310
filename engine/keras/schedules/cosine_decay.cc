// keras.optimizers.schedules.CosineDecay, with optional linear warmup:
//   warmup (step < warmup_steps): lr0 + (target - lr0) * step / warmup_steps
//   decay: from * ((1 - alpha) * 0.5 (1 + cos(pi * s / decay_steps)) + alpha)
// where s is the step after warmup, capped at decay_steps, and `from` is the
// warmup target when there is one, else lr0.
#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"
#include "engine/keras/schedules/learning_rate_schedule.h"

namespace fornax {
namespace {

class CosineDecay : public LearningRateSchedule {
 public:
  CosineDecay(float initial, float decay_steps, double alpha, std::optional<float> warmup_target,
              float warmup_steps)
      : initial_(initial),
        decay_steps_(decay_steps),
        alpha_(alpha),
        warmup_target_(warmup_target),
        warmup_steps_(warmup_steps) {}

  float operator()(int64_t step) const override {
    float s = static_cast<float>(step);
    if (!warmup_target_) return Decay(std::min(s, decay_steps_), initial_);
    s = std::min(s, decay_steps_ + warmup_steps_);
    if (s < warmup_steps_) {
      const float delta = *warmup_target_ - initial_;
      return delta * (s / warmup_steps_) + initial_;
    }
    return Decay(s - warmup_steps_, *warmup_target_);
  }

 private:
  float Decay(float s, float from) const {
    const float pi = static_cast<float>(M_PI);
    const float fraction = s / decay_steps_;
    const float cosine = 0.5f * (1.0f + std::cos(pi * fraction));
    const float decayed = static_cast<float>(1.0 - alpha_) * cosine + static_cast<float>(alpha_);
    return from * decayed;
  }
  float initial_, decay_steps_;
  double alpha_;
  std::optional<float> warmup_target_;
  float warmup_steps_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LearningRateSchedule>> MakeCosineDecay(const ConfigReader& config) {
  if (!config.Has("initial_learning_rate")) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.what(), ": field \"initial_learning_rate\" is required"));
  }
  FORNAX_ASSIGN_OR_RETURN(double initial, config.Double("initial_learning_rate", 0));
  FORNAX_ASSIGN_OR_RETURN(double decay_steps, config.Double("decay_steps", 0));
  FORNAX_ASSIGN_OR_RETURN(double alpha, config.Double("alpha", 0.0));
  FORNAX_ASSIGN_OR_RETURN(std::optional<double> target, config.OptionalDouble("warmup_target"));
  FORNAX_ASSIGN_OR_RETURN(double warmup_steps, config.Double("warmup_steps", 0));
  if (decay_steps <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.what(), ": field \"decay_steps\" must be > 0, received: ", decay_steps));
  }
  std::optional<float> warmup_target;
  if (target) warmup_target = static_cast<float>(*target);
  return std::make_unique<CosineDecay>(static_cast<float>(initial), static_cast<float>(decay_steps),
                                       alpha, warmup_target, static_cast<float>(warmup_steps));
}

}  // namespace fornax
