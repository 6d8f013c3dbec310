#include "client/history_json.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace fornax {
namespace {

TEST(HistoryJsonTest, KerasHistoryPlusEvaluate) {
  History history = {{"loss", {0.5, 0.25}}, {"val_loss", {0.6, std::nan("")}}};
  nlohmann::json j = HistoryToJson(history, Logs{{"accuracy", 0.875}, {"loss", 0.3}});
  EXPECT_EQ(j["loss"], nlohmann::json::array({0.5, 0.25}));
  EXPECT_TRUE(j["val_loss"][1].is_null());
  EXPECT_EQ(j["evaluate"]["accuracy"], 0.875);
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}

TEST(HistoryJsonTest, NoEvaluateWithoutTestData) {
  nlohmann::json j = HistoryToJson({{"loss", {1.0}}}, std::nullopt);
  EXPECT_FALSE(j.contains("evaluate"));
}

}  // namespace
}  // namespace fornax
