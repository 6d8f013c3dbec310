#include "engine/job/yaml_json.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

nlohmann::json Convert(const std::string& yaml) {
  absl::StatusOr<nlohmann::json> j = YamlToJson(YAML::Load(yaml), "t.yaml", "root");
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : nlohmann::json();
}

TEST(YamlJsonTest, PlainScalarsFollowTheCoreSchema) {
  nlohmann::json j = Convert(
      "{a: 1, b: -2.5, c: 1e-3, d: true, e: False, f: ~, g: adam, h: '1e-3', i: .inf, j: 0x10}");
  EXPECT_EQ(j["a"], 1);
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_DOUBLE_EQ(j["b"].get<double>(), -2.5);
  EXPECT_DOUBLE_EQ(j["c"].get<double>(), 1e-3);
  EXPECT_EQ(j["d"], true);
  EXPECT_EQ(j["e"], false);
  EXPECT_TRUE(j["f"].is_null());
  EXPECT_EQ(j["g"], "adam");
  EXPECT_EQ(j["h"], "1e-3");  // quoted stays a string
  EXPECT_TRUE(std::isinf(j["i"].get<double>()));
  EXPECT_EQ(j["j"], "0x10");  // not core-schema decimal
}

TEST(YamlJsonTest, NestedKerasConfig) {
  nlohmann::json j = Convert(R"(
class_name: Adam
config:
  learning_rate: 0.001
  amsgrad: false
metrics: [accuracy, {class_name: MeanSquaredError}]
)");
  EXPECT_EQ(j["class_name"], "Adam");
  EXPECT_DOUBLE_EQ(j["config"]["learning_rate"].get<double>(), 0.001);
  EXPECT_EQ(j["config"]["amsgrad"], false);
  ASSERT_TRUE(j["metrics"].is_array());
  EXPECT_EQ(j["metrics"][1]["class_name"], "MeanSquaredError");
}

TEST(YamlJsonTest, NonScalarKeysAreRefused) {
  absl::StatusOr<nlohmann::json> j = YamlToJson(YAML::Load("{[1, 2]: x}"), "t.yaml", "compile");
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(), ::testing::HasSubstr("t.yaml: compile: expected string keys"));
}

}  // namespace
}  // namespace fornax
