// LearningRateSchedule: keras.optimizers.schedules, evaluated on the host.
//
// The trainer writes schedule(iteration) into the optimizer's learning-rate
// variable before every step, so the rate is exact per step and identical for
// any steps_per_execution. The math follows Keras's __call__ in float32 (the
// dtype Keras computes it in), so values match Keras to the last ulp or two.
// Built from Keras's serialized form:
//   {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
//    "decay_steps": 1000, "decay_rate": 0.96, "staircase": false}}
// Thread-safety: immutable after construction.
#ifndef FORNAX_ENGINE_KERAS_SCHEDULES_LEARNING_RATE_SCHEDULE_H_
#define FORNAX_ENGINE_KERAS_SCHEDULES_LEARNING_RATE_SCHEDULE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace fornax {

class ConfigReader;

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  // The learning rate for optimizer step `step` (0-based iteration count).
  virtual float operator()(int64_t step) const = 0;
};

// ExponentialDecay, PiecewiseConstantDecay, CosineDecay; InvalidArgument for
// anything else or a bad field.
absl::StatusOr<std::unique_ptr<LearningRateSchedule>> ScheduleFromConfig(
    const nlohmann::json& config);

// One per file.
absl::StatusOr<std::unique_ptr<LearningRateSchedule>> MakeExponentialDecay(
    const ConfigReader& config);
absl::StatusOr<std::unique_ptr<LearningRateSchedule>> MakePiecewiseConstantDecay(
    const ConfigReader& config);
absl::StatusOr<std::unique_ptr<LearningRateSchedule>> MakeCosineDecay(const ConfigReader& config);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_SCHEDULES_LEARNING_RATE_SCHEDULE_H_
