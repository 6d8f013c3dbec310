// LR schedules against real Keras 3.15: schedule(step) for steps 0..9.
#include "engine/keras/schedules/learning_rate_schedule.h"

#include <vector>

#include "gtest/gtest.h"

namespace fornax {
namespace {

struct ScheduleCase {
  const char* name;
  const char* config;
  std::vector<double> keras;  // keras 3.15: [float(s(i)) for i in range(10)]
};

TEST(LearningRateScheduleTest, MatchesKeras) {
  const std::vector<ScheduleCase> cases = {
      {"exp",
       R"({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.9}})",
       {0.10000000149011612, 0.09654893726110458, 0.09321697801351547, 0.08999999612569809,
        0.08689404278993607, 0.08389527350664139, 0.08099999278783798, 0.07820463925600052,
        0.07550574839115143, 0.07289998978376389}},
      {"exp_stair",
       R"({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.9, "staircase": true}})",
       {0.10000000149011612, 0.10000000149011612, 0.10000000149011612, 0.08999999612569809,
        0.08999999612569809, 0.08999999612569809, 0.08099999278783798, 0.08099999278783798,
        0.08099999278783798, 0.07289998978376389}},
      {"piecewise",
       R"({"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [2, 5], "values": [1.0, 0.5, 0.1]}})",
       {1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.10000000149011612, 0.10000000149011612, 0.10000000149011612,
        0.10000000149011612}},
      {"cosine",
       R"({"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 5, "alpha": 0.1}})",
       {0.10000000149011612, 0.09140576422214508, 0.06890576332807541, 0.04109422490000725,
        0.018594233319163322, 0.010000000707805157, 0.010000000707805157, 0.010000000707805157,
        0.010000000707805157, 0.010000000707805157}},
      {"cosine_warmup",
       R"({"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.0, "decay_steps": 5, "warmup_target": 0.2, "warmup_steps": 3}})",
       {0.0, 0.06666667014360428, 0.13333334028720856, 0.20000000298023224, 0.1809016913175583,
        0.13090169429779053, 0.06909828633069992, 0.019098294898867607, 0.0, 0.0}},
  };
  for (const ScheduleCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto schedule = ScheduleFromConfig(nlohmann::json::parse(c.config));
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    for (int64_t step = 0; step < 10; ++step) {
      EXPECT_NEAR((**schedule)(step), c.keras[static_cast<size_t>(step)], 1e-7) << "step " << step;
    }
  }
}

TEST(LearningRateScheduleTest, RejectsBadConfigs) {
  EXPECT_FALSE(
      ScheduleFromConfig(
          nlohmann::json::parse(
              R"({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.5}})"))
          .ok());
  EXPECT_FALSE(
      ScheduleFromConfig(
          nlohmann::json::parse(
              R"({"class_name": "PiecewiseConstantDecay", "config": {"boundaries": [1, 2], "values": [1.0]}})"))
          .ok());
  EXPECT_FALSE(ScheduleFromConfig(
                   nlohmann::json::parse(R"({"class_name": "PolynomialDecay", "config": {}})"))
                   .ok());
}

}  // namespace
}  // namespace fornax
