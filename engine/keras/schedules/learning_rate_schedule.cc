#include "engine/keras/schedules/learning_rate_schedule.h"

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"

namespace fornax {

absl::StatusOr<std::unique_ptr<LearningRateSchedule>> ScheduleFromConfig(
    const nlohmann::json& config) {
  FORNAX_ASSIGN_OR_RETURN(SerializedObject object,
                          ParseSerialized(config, "learning_rate schedule"));
  const ConfigReader reader(object.config,
                            absl::StrCat("learning_rate schedule '", object.class_name, "'"));
  if (!object.from_string) {
    if (object.class_name == "ExponentialDecay") return MakeExponentialDecay(reader);
    if (object.class_name == "PiecewiseConstantDecay") return MakePiecewiseConstantDecay(reader);
    if (object.class_name == "CosineDecay") return MakeCosineDecay(reader);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("learning_rate schedule: unknown class '", object.class_name,
                   "'; expected ExponentialDecay, PiecewiseConstantDecay or CosineDecay"));
}

}  // namespace fornax
