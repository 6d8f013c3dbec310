#include "client/progress_bar.h"

#include <algorithm>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

class FakeClock {
 public:
  double now = 100.0;
  ProgressBar::Clock AsClock() {
    return [this] { return now; };
  }
};

TEST(ProgressBarTest, PlainModePrintsKerasVerbose2LinePerEpoch) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar(out, /*dynamic=*/false, clock.AsClock());
  TrainingControl control;
  control.epochs = 2;
  control.steps_per_epoch = 469;
  ASSERT_TRUE(bar.OnTrainBegin(control).ok());
  ASSERT_TRUE(bar.OnEpochBegin(control, 0).ok());
  clock.now += 0.5;
  ASSERT_TRUE(bar.OnTrainBatchEnd(control, 0, {{"loss", 2.0}}).ok());
  clock.now += 1.872;  // 468 more steps at 4 ms
  ASSERT_TRUE(bar.OnTrainBatchEnd(control, 468, {{"loss", 0.41}}).ok());
  ASSERT_TRUE(bar.OnEpochEnd(control, 0,
                             {{"loss", 0.41009},
                              {"accuracy", 0.85123},
                              {"val_loss", 0.0001},
                              {"val_accuracy", 0.86}})
                  .ok());
  EXPECT_EQ(out.str(),
            "Epoch 1/2\n"
            "469/469 - 2s - 4ms/step - accuracy: 0.8512 - loss: 0.4101 - val_accuracy: 0.8600 - "
            "val_loss: 1.0000e-04\n");
}

TEST(ProgressBarTest, SingleEpochHasNoHeader) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar(out, false, clock.AsClock());
  TrainingControl control;
  control.epochs = 1;
  control.steps_per_epoch = 5;
  ASSERT_TRUE(bar.OnTrainBegin(control).ok());
  ASSERT_TRUE(bar.OnEpochBegin(control, 0).ok());
  clock.now += 2.5;
  ASSERT_TRUE(bar.OnEpochEnd(control, 0, {{"loss", 1.5}}).ok());
  EXPECT_EQ(out.str(), "5/5 - 2s - 500ms/step - loss: 1.5000\n");
}

TEST(ProgressBarTest, TerminalModeRedrawsInPlaceWithEtaThenElapsed) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar(out, /*dynamic=*/true, clock.AsClock());
  bar.Start(10);
  clock.now += 1.0;
  bar.Update(1, {{"loss", 0.5}}, false);
  clock.now += 4.0;
  bar.Update(5, {{"loss", 0.25}}, false);
  clock.now += 5.0;
  bar.Update(10, {{"loss", 0.125}, {"val_loss", 0.2}}, true);
  const std::string s = out.str();
  // First draw: 1/10, 2 of 20 cells green, ETA 9 steps * 1 s.
  EXPECT_THAT(s, ::testing::HasSubstr(
                     "\r\x1b[1m 1/10\x1b[0m \x1b[32m━━\x1b[0m\x1b[37m━━━━━━━━━━━━━━━━━━\x1b[0m "
                     "\x1b[1m9s\x1b[0m 1s/step - loss: 0.5000"));
  // Halfway: ETA from the steps after the first (1 s each).
  EXPECT_THAT(s, ::testing::HasSubstr("\x1b[1m 5/10\x1b[0m \x1b[32m━━━━━━━━━━\x1b[0m"));
  EXPECT_THAT(s, ::testing::HasSubstr("\x1b[1m5s\x1b[0m 1s/step - loss: 0.2500"));
  // Final: full bar, elapsed seconds, val_ metrics, newline.
  EXPECT_THAT(s, ::testing::EndsWith(
                     "\x1b[1m10/10\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m\x1b[37m\x1b[0m "
                     "\x1b[1m10s\x1b[0m 1s/step - loss: 0.1250 - val_loss: 0.2000\n"));
}

TEST(ProgressBarTest, TerminalModeThrottlesRedraws) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar(out, true, clock.AsClock());
  bar.Start(100);
  clock.now += 0.1;
  bar.Update(1, {}, false);
  clock.now += 0.01;
  bar.Update(2, {}, false);  // within 50 ms of the last draw: skipped
  const std::string s = out.str();
  EXPECT_EQ(std::count(s.begin(), s.end(), '\r'), 1);
}

TEST(ProgressBarTest, ShorterRedrawBlanksTheRest) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar(out, true, clock.AsClock());
  bar.Start(3);
  clock.now += 0.1;
  bar.Update(1, {{"loss", 12345.5}}, false);
  clock.now += 0.1;
  bar.Update(2, {{"loss", 1.5}}, false);
  EXPECT_THAT(out.str(), ::testing::EndsWith("loss: 1.5000    "));
}

}  // namespace
}  // namespace fornax
