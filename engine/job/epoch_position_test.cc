#include "engine/job/epoch_position.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

TEST(EpochPositionTest, RoundTripsStepAndMetricBitsNaNIncluded) {
  VariableStore store;
  store.Add({"dense/kernel", VariableKind::kWeight, true},
            Tensor::FromFloats(Shape{2}, std::vector<float>{1, 2}));
  store.Add({"metrics/loss/total", VariableKind::kMetric, false}, Tensor::Scalar(0.1f));
  store.Add({"metrics/loss/count", VariableKind::kMetric, false},
            Tensor::Scalar(std::numeric_limits<float>::quiet_NaN()));
  const nlohmann::json callbacks = {{{"class_name", "EarlyStopping"}, {"state", {{"wait", 2}}}},
                                    {{"class_name", "TerminateOnNaN"}, {"state", nullptr}}};
  const nlohmann::json json = EpochPositionJson(3, 5, 8, store, callbacks, true);
  EXPECT_FALSE(json["metrics"].contains("dense/kernel"));

  // Tensors are binary values (the archive stores them as such:
  // KerasArchiveReaderTest.FornaxStateTensorsRoundTripThroughTheirMember).
  EXPECT_TRUE(json["metrics"]["metrics/loss/total"]["bytes"].is_binary());
  absl::StatusOr<std::optional<EpochPosition>> position = ParseEpochPosition(json, "a.keras");
  ASSERT_TRUE(position.ok()) << position.status();
  ASSERT_TRUE(position->has_value());
  EXPECT_EQ((*position)->epoch, 3);
  EXPECT_EQ((*position)->progress.step, 5);
  EXPECT_EQ((*position)->progress.steps_per_epoch, 8);
  const auto& metrics = (*position)->progress.metrics;
  ASSERT_EQ(metrics.size(), 2u);
  EXPECT_TRUE(metrics.at("metrics/loss/total").BitwiseEquals(store.value(1)));
  EXPECT_TRUE(metrics.at("metrics/loss/count").BitwiseEquals(store.value(2)));
  EXPECT_TRUE(std::isnan(metrics.at("metrics/loss/count").data<float>()[0]));
  EXPECT_EQ((*position)->callbacks, callbacks);
  EXPECT_TRUE((*position)->stop_training);
}

TEST(EpochPositionTest, EpochEndHasNoMetricsAndOlderStateReadsAsNoCallbacks) {
  VariableStore store;
  store.Add({"metrics/loss/total", VariableKind::kMetric, false}, Tensor::Scalar(0.1f));
  const nlohmann::json json = EpochPositionJson(2, 0, 8, store, nlohmann::json::array(), false);
  EXPECT_TRUE(json["metrics"].empty());
  EXPECT_EQ(json["callbacks"], nlohmann::json::array());
  EXPECT_EQ(json["stop_training"], false);

  // A mid-epoch checkpoint written before callbacks were kept.
  absl::StatusOr<std::optional<EpochPosition>> position =
      ParseEpochPosition({{"epoch", 1}, {"step", 2}, {"steps_per_epoch", 8}}, "a.keras");
  ASSERT_TRUE(position.ok()) << position.status();
  ASSERT_TRUE(position->has_value());
  EXPECT_TRUE((*position)->callbacks.empty());
  EXPECT_FALSE((*position)->stop_training);

  // Its metrics as hex text, as archives kept them before fornax/tensors.bin.
  position = ParseEpochPosition(
      {{"epoch", 1},
       {"step", 2},
       {"steps_per_epoch", 8},
       {"metrics",
        {{"m/total",
          {{"dtype", "float32"}, {"shape", nlohmann::json::array()}, {"hex", "cdcccc3d"}}}}}},
      "a.keras");
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_TRUE((*position)->progress.metrics.at("m/total").BitwiseEquals(Tensor::Scalar(0.1f)));
}

TEST(EpochPositionTest, NullIsNoPosition) {
  absl::StatusOr<std::optional<EpochPosition>> position =
      ParseEpochPosition(nlohmann::json(), "a.keras");
  ASSERT_TRUE(position.ok());
  EXPECT_FALSE(position->has_value());
}

TEST(EpochPositionTest, BadFieldsNameTheArchiveAndField) {
  const nlohmann::json good = {{"epoch", 1}, {"step", 2}, {"steps_per_epoch", 8}};
  struct Case {
    nlohmann::json state;
    const char* message;
  } cases[] = {
      {nlohmann::json::array(), "a.keras: metadata.json: fornax: expected an object"},
      {{{"step", 2}, {"steps_per_epoch", 8}}, "fornax.epoch: expected an integer >= 0"},
      {{{"epoch", 1}, {"step", -2}, {"steps_per_epoch", 8}},
       "fornax.step: expected an integer >= 0"},
      {{{"epoch", 1}, {"step", 2}, {"steps_per_epoch", "8"}},
       "fornax.steps_per_epoch: expected an integer >= 0"},
      {{{"epoch", 1}, {"step", 2}, {"steps_per_epoch", 8}, {"metrics", 3}},
       "fornax.metrics: expected an object"},
      {{{"epoch", 1},
        {"step", 2},
        {"steps_per_epoch", 8},
        {"metrics", {{"m/total", {{"dtype", "float32"}, {"shape", nlohmann::json::array()}}}}}},
       "fornax.metrics[\"m/total\"]: expected {"},
      {{{"epoch", 1},
        {"step", 2},
        {"steps_per_epoch", 8},
        {"metrics",
         {{"m/total",
           {{"dtype", "float32"}, {"shape", nlohmann::json::array()}, {"hex", "00zz0000"}}}}}},
       "fornax.metrics[\"m/total\"].hex: expected 8 hex digits"},
      {{{"epoch", 1},
        {"step", 2},
        {"steps_per_epoch", 8},
        {"metrics",
         {{"m/total", {{"dtype", "float99"}, {"shape", nlohmann::json::array()}, {"hex", ""}}}}}},
       "fornax.metrics[\"m/total\"].dtype: expected a dtype name"},
      {{{"epoch", 1}, {"step", 2}, {"steps_per_epoch", 8}, {"callbacks", {{"a", 1}}}},
       "fornax.callbacks: expected an array"},
      {{{"epoch", 1},
        {"step", 2},
        {"steps_per_epoch", 8},
        {"callbacks", nlohmann::json::array({{{"class_name", "EarlyStopping"}}})}},
       R"(fornax.callbacks[0]: expected {"class_name": string, "state": ...})"},
      {{{"epoch", 1}, {"step", 2}, {"steps_per_epoch", 8}, {"stop_training", 1}},
       "fornax.stop_training: expected true or false"},
  };
  ASSERT_TRUE(ParseEpochPosition(good, "a.keras").ok());
  for (const Case& c : cases) {
    absl::StatusOr<std::optional<EpochPosition>> position = ParseEpochPosition(c.state, "a.keras");
    ASSERT_FALSE(position.ok()) << c.state.dump();
    EXPECT_EQ(position.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(position.status().message(), HasSubstr(c.message)) << c.state.dump();
  }
}

}  // namespace
}  // namespace fornax
