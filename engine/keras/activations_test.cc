// Every activation string Keras 3 accepts resolves (values are checked
// against Keras in engine/keras/layers/layer_test.cc).
#include "engine/keras/activations.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

TEST(ActivationsTest, AcceptsEveryKerasIdentifier) {
  // keras.activations.ALL_OBJECTS_DICT (Keras 3.15) without `threshold`.
  for (const char* name :
       {"celu",           "elu",          "exponential", "gelu",        "glu",
        "hard_shrink",    "hard_sigmoid", "hard_silu",   "hard_swish",  "hard_tanh",
        "leaky_relu",     "linear",       "log_sigmoid", "log_softmax", "mish",
        "relu",           "relu6",        "selu",        "sigmoid",     "silu",
        "soft_shrink",    "softmax",      "softplus",    "softsign",    "sparse_plus",
        "sparse_sigmoid", "sparsemax",    "squareplus",  "swish",       "tanh",
        "tanh_shrink"}) {
    absl::StatusOr<Activation> a = GetActivation(json(name), "test");
    EXPECT_TRUE(a.ok()) << name << ": " << a.status();
  }
}

TEST(ActivationsTest, AliasesAndForms) {
  EXPECT_EQ(GetActivation(json("swish"), "t")->name, "silu");
  EXPECT_EQ(GetActivation(json("hard_swish"), "t")->name, "hard_silu");
  EXPECT_TRUE(GetActivation(json(), "t")->is_linear());
  const json serialized = {{"module", "keras.activations"},
                           {"class_name", "function"},
                           {"config", "relu"},
                           {"registered_name", "function"}};
  EXPECT_EQ(GetActivation(serialized, "t")->name, "relu");
}

TEST(ActivationsTest, Errors) {
  EXPECT_THAT(std::string(GetActivation(json("threshold"), "layer 'a'").status().message()),
              ::testing::HasSubstr("layer 'a': activation 'threshold' needs `threshold`"));
  EXPECT_THAT(std::string(GetActivation(json("nope"), "layer 'a'").status().message()),
              ::testing::HasSubstr("layer 'a': unknown activation 'nope'; supported: celu, elu"));
  EXPECT_THAT(std::string(GetActivation(json(7), "layer 'a'").status().message()),
              ::testing::HasSubstr("could not interpret activation function identifier: 7"));
}

}  // namespace
}  // namespace fornax
