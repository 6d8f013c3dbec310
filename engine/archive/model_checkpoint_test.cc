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

}  // namespace
}  // namespace fornax
