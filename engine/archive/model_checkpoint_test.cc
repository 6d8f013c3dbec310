// ModelCheckpoint: Keras's filepath format fields, config checks, and
// save_best_only saving only on improvement.
#include "engine/archive/model_checkpoint.h"

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

TEST(ModelCheckpointTest, FormatsEpochAndLogFieldsAsKeras) {
  const Logs logs = {{"val_loss", 0.123456}, {"accuracy", 0.5}};
  absl::StatusOr<std::string> path =
      ModelCheckpoint::FormatPath("m-{epoch:02d}-{val_loss:.2f}.keras", 3, logs);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, "m-03-0.12.keras");
  EXPECT_EQ(*ModelCheckpoint::FormatPath("m{epoch}.keras", 12, logs), "m12.keras");
  EXPECT_THAT(ModelCheckpoint::FormatPath("m-{lr:.2f}.keras", 1, logs).status().message(),
              testing::HasSubstr("{lr:.2f}: no such value"));
  EXPECT_THAT(ModelCheckpoint::FormatPath("m-{epoch.keras", 1, logs).status().message(),
              testing::HasSubstr("unclosed"));
}

TEST(ModelCheckpointTest, OtherCallbacksAreNotClaimed) {
  absl::StatusOr<std::unique_ptr<ModelCheckpoint>> cb = ModelCheckpoint::FromJobEntry(
      json{{"class_name", "EarlyStopping"}, {"config", json::object()}});
  ASSERT_TRUE(cb.ok());
  EXPECT_EQ(*cb, nullptr);
}

TEST(ModelCheckpointTest, RefusesWhatItCannotWrite) {
  auto error = [](json config) {
    return std::string(
        ModelCheckpoint::FromJobEntry(json{{"class_name", "ModelCheckpoint"}, {"config", config}})
            .status()
            .message());
  };
  EXPECT_THAT(error({{"filepath", "w.h5"}}), testing::HasSubstr("must end in .keras"));
  EXPECT_THAT(error({{"filepath", "m.keras"}, {"save_weights_only", true}}),
              testing::HasSubstr("save_weights_only"));
  EXPECT_THAT(error({{"filepath", "m.keras"}, {"save_freq", 10}}), testing::HasSubstr("save_freq"));
  EXPECT_THAT(error({{"filepath", "m.keras"}, {"period", 2}}), testing::HasSubstr("period"));
}

// Resumed with the best value it had seen (0.5), a save_best_only
// ModelCheckpoint does not save a worse epoch (0.6), as a fresh one would.
TEST(ModelCheckpointTest, ResumedStateKeepsTheBestValue) {
  const std::string path = ::testing::TempDir() + "/model_checkpoint_best.keras";
  std::filesystem::remove(path);
  const json entry = {
      {"class_name", "ModelCheckpoint"},
      {"config", {{"filepath", path}, {"monitor", "loss"}, {"save_best_only", true}}}};
  absl::StatusOr<std::unique_ptr<ModelCheckpoint>> first = ModelCheckpoint::FromJobEntry(entry);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->State(), json({{"best", nullptr}}));
  ASSERT_TRUE((*first)->ResumeFrom({{"best", "3fe0000000000000"}}).ok());  // 0.5's bits
  EXPECT_EQ((*first)->State(), json({{"best", "3fe0000000000000"}}));

  absl::StatusOr<std::unique_ptr<ModelCheckpoint>> resumed = ModelCheckpoint::FromJobEntry(entry);
  ASSERT_TRUE((*resumed)->ResumeFrom((*first)->State()).ok());
  TrainingControl control;  // no trainer: saving would fail
  EXPECT_TRUE((*resumed)->OnEpochEnd(control, 3, {{"loss", 0.6}}).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_THAT(std::string((*resumed)->ResumeFrom({{"best", 1}}).message()),
              testing::HasSubstr("best: expected null or 16 hex digits"));
}

}  // namespace
}  // namespace fornax
