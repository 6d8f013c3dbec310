// keras.optimizers.schedules.PiecewiseConstantDecay: values[0] while
// step <= boundaries[0], values[i] while boundaries[i-1] < step <=
// boundaries[i], values[-1] after the last boundary. Boundaries are compared
// as integers, as Keras casts them to the iteration counter's dtype.
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"
#include "engine/keras/schedules/learning_rate_schedule.h"

namespace fornax {
namespace {

class PiecewiseConstantDecay : public LearningRateSchedule {
 public:
  PiecewiseConstantDecay(std::vector<int64_t> boundaries, std::vector<float> values)
      : boundaries_(std::move(boundaries)), values_(std::move(values)) {}
  float operator()(int64_t step) const override {
    for (size_t i = 0; i < boundaries_.size(); ++i) {
      if (step <= boundaries_[i]) return values_[i];
    }
    return values_.back();
  }

 private:
  std::vector<int64_t> boundaries_;
  std::vector<float> values_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<LearningRateSchedule>> MakePiecewiseConstantDecay(
    const ConfigReader& config) {
  FORNAX_ASSIGN_OR_RETURN(std::vector<double> boundaries, config.DoubleList("boundaries"));
  FORNAX_ASSIGN_OR_RETURN(std::vector<double> values, config.DoubleList("values"));
  if (boundaries.size() + 1 != values.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.what(),
                     ": the length of \"boundaries\" must be 1 less than the length of "
                     "\"values\"; received ",
                     boundaries.size(), " boundaries and ", values.size(), " values"));
  }
  std::vector<int64_t> int_boundaries(boundaries.begin(), boundaries.end());
  std::vector<float> float_values(values.begin(), values.end());
  return std::make_unique<PiecewiseConstantDecay>(std::move(int_boundaries),
                                                  std::move(float_values));
}

}  // namespace fornax
