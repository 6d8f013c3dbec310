// Layer constructors validate their arguments with Keras's messages:
// "layer 'NAME': argument `ARG` must be EXPECTED. Received: ARG=VALUE".
#include <string>

#include "engine/keras/layers/registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

struct BadArgument {
  std::string class_name;
  json config;
  std::string message;
};

class LayerArgsTest : public ::testing::TestWithParam<BadArgument> {};

TEST_P(LayerArgsTest, RefusesWithKerasMessage) {
  const BadArgument& p = GetParam();
  absl::StatusOr<std::unique_ptr<Layer>> layer =
      CreateLayer({{"class_name", p.class_name}, {"config", p.config}});
  ASSERT_FALSE(layer.ok());
  EXPECT_EQ(layer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(layer.status().message()), ::testing::HasSubstr(p.message));
}

INSTANTIATE_TEST_SUITE_P(
    Keras, LayerArgsTest,
    ::testing::Values(
        BadArgument{
            "Dense",
            {{"name", "dense_1"}, {"units", -3}},
            "layer 'dense_1': argument `units` must be a positive integer. Received: units=-3"},
        BadArgument{"Dense",
                    {{"name", "d"}, {"units", "ten"}},
                    "argument `units` must be a positive integer. Received: units='ten'"},
        BadArgument{"Dense",
                    {{"name", "d"}, {"units", 2}, {"activation", "threshold"}},
                    "layer 'd': activation 'threshold' needs `threshold` and `default_value`"},
        BadArgument{
            "Dense",
            {{"name", "d"}, {"units", 2}, {"kernel_constraint", {{"class_name", "NonNeg"}}}},
            "argument `kernel_constraint`: weight constraints are not supported yet"},
        BadArgument{"Dropout",
                    {{"name", "drop"}, {"rate", 1.5}},
                    "layer 'drop': argument `rate` must be a float value between 0 and 1. "
                    "Received: rate=1.5"},
        BadArgument{"Conv2D",
                    {{"name", "c"}, {"filters", 4}, {"kernel_size", {3}}},
                    "argument `kernel_size` must be a positive integer or a list of 2 positive "
                    "integers. Received: kernel_size=[3]"},
        BadArgument{
            "Conv2D",
            {{"name", "c"}, {"filters", 4}, {"kernel_size", 3}, {"padding", "causal"}},
            "argument `padding` must be one of {'valid', 'same'}. Received: padding='causal'"},
        BadArgument{"Conv2D",
                    {{"name", "c"}, {"filters", 4}, {"kernel_size", 3}, {"groups", 2}},
                    "argument `groups` must be 1 (grouped convolution is not supported)"},
        BadArgument{"Conv2D",
                    {{"name", "c"},
                     {"filters", 4},
                     {"kernel_size", 3},
                     {"strides", 2},
                     {"dilation_rate", 2}},
                    "`strides > 1` not supported in conjunction with `dilation_rate > 1`"},
        BadArgument{"MaxPooling2D",
                    {{"name", "p"}, {"data_format", "channels_first"}},
                    "layer 'p': data_format='channels_first' is not supported"},
        BadArgument{
            "Reshape",
            {{"name", "r"}, {"target_shape", {-1, -1}}},
            "argument `target_shape` must be a list of positive integers with at most one -1"},
        BadArgument{
            "Softmax", {{"name", "s"}, {"axis", {1, 2}}}, "argument `axis` must be a single axis"},
        BadArgument{"BatchNormalization",
                    {{"name", "bn"}, {"renorm", true}},
                    "argument `renorm` must be False (batch renormalization is not supported)"},
        BadArgument{"Embedding",
                    {{"name", "e"}, {"input_dim", 10}, {"output_dim", 4}, {"mask_zero", true}},
                    "argument `mask_zero` must be False (masking is not supported yet)"},
        BadArgument{"Embedding",
                    {{"name", "e"}, {"input_dim", 0}, {"output_dim", 4}},
                    "argument `input_dim` must be a positive integer. Received: input_dim=0"},
        BadArgument{"ReLU",
                    {{"name", "r"}, {"negative_slope", -1}},
                    "argument `negative_slope` must be a non-negative number"},
        BadArgument{"Dense",
                    {{"name", "d"}, {"units", 2}, {"dtype", "mixed_float16"}},
                    "dtype policy 'mixed_float16' is not supported yet"}),
    // Readable test names ("Dense_0") instead of gtest's byte dump.
    [](const ::testing::TestParamInfo<BadArgument>& info) {
      return info.param.class_name + "_" + std::to_string(info.index);
    });

TEST(LayerRegistryTest, ListsEveryLayerOfTheIssue) {
  const std::vector<std::string> classes = SupportedLayerClasses();
  for (const char* name : {"Dense",
                           "Activation",
                           "ReLU",
                           "LeakyReLU",
                           "Softmax",
                           "Dropout",
                           "Flatten",
                           "Reshape",
                           "Rescaling",
                           "Add",
                           "Subtract",
                           "Multiply",
                           "Concatenate",
                           "Conv2D",
                           "MaxPooling2D",
                           "AveragePooling2D",
                           "GlobalAveragePooling2D",
                           "BatchNormalization",
                           "LayerNormalization",
                           "Embedding"}) {
    EXPECT_NE(std::find(classes.begin(), classes.end(), name), classes.end()) << name;
  }
}

TEST(LayerShapeTest, DenseRefusesAMismatchedInputWithKerasShapes) {
  absl::StatusOr<std::unique_ptr<Layer>> layer =
      CreateLayer({{"class_name", "Dense"}, {"config", {{"name", "dense_2"}, {"units", 10}}}});
  ASSERT_TRUE(layer.ok());
  std::vector<TensorSpec> built_for = {{"x", DType::kFloat32, Shape{kBatch, 128}}};
  ASSERT_TRUE((*layer)->Build(built_for).ok());
  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> x = {b.Input(0, DType::kFloat32, Shape{kBatch, 64})};
  absl::StatusOr<std::vector<ValueId>> y = (*layer)->Apply(b, x, CallContext{});
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().message(),
            "layer 'dense_2' (Dense): expected input with last dimension 128, received (None, 64)");
}

}  // namespace
}  // namespace fornax

namespace fornax {
namespace {

TEST(LayerShapeTest, BuildRefusesInputsTheLayerCannotTake) {
  absl::StatusOr<std::unique_ptr<Layer>> conv =
      CreateLayer({{"class_name", "Conv2D"},
                   {"config", {{"name", "conv"}, {"filters", 2}, {"kernel_size", 3}}}});
  ASSERT_TRUE(conv.ok());
  std::vector<TensorSpec> flat = {{"x", DType::kFloat32, Shape{kBatch, 784}}};
  EXPECT_EQ((*conv)->Build(flat).message(),
            "layer 'conv' (Conv2D): expected an input of rank 4 (batch, height, width, channels), "
            "received (None, 784)");
  absl::StatusOr<std::unique_ptr<Layer>> add =
      CreateLayer({{"class_name", "Add"}, {"config", {{"name", "add"}}}});
  ASSERT_TRUE(add.ok());
  EXPECT_EQ((*add)->Build(flat).message(),
            "layer 'add' (Add): expects a list of at least 2 inputs, received 1");
}

}  // namespace
}  // namespace fornax
