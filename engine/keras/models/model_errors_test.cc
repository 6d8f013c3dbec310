// Every way a model config can be wrong gives one precise InvalidArgument
// naming the source, the layer and the field. Configs are real Keras JSON
// with one thing changed.
#include <fstream>

#include "engine/keras/layers/layer_test_util.h"
#include "engine/keras/models/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

json Load(const std::string& name) {
  return testing::LoadJson(testing::KerasTestData("models/" + name + ".json"));
}

std::string ErrorOf(const json& config) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(config, "model.json");
  if (model.ok()) return "<no error>";
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(model.status().message());
}

TEST(ModelErrorsTest, MessagesStartWithTheSource) {
  json config = Load("mlp_sequential");
  config["config"]["layers"][1]["class_name"] = "Foo";
  EXPECT_THAT(ErrorOf(config), StartsWith("model.json: "));
}

TEST(ModelErrorsTest, MalformedJsonFile) {
  const std::string path = ::testing::TempDir() + "/broken_model.json";
  std::ofstream(path) << "{\"class_name\": \"Sequential\", \"config\": {";
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile(path);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(model.status().message()), StartsWith(path + ": malformed JSON"));
}

TEST(ModelErrorsTest, MissingFile) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJsonFile("/nonexistent/model.json");
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(std::string(model.status().message()), HasSubstr("/nonexistent/model.json"));
}

TEST(ModelErrorsTest, UnknownLayerClass) {
  json config = Load("mlp_sequential");
  config["config"]["layers"][1]["class_name"] = "Foo";
  EXPECT_THAT(ErrorOf(config),
              HasSubstr("unknown layer class 'Foo' (layer 'dense'); supported: Activation, Add"));
}

TEST(ModelErrorsTest, LambdaIsRefused) {
  EXPECT_THAT(ErrorOf(Load("lambda_functional")),
              HasSubstr("refused: layer 'lambda' is a Lambda layer, which runs arbitrary Python; "
                        "Fornax never executes user code"));
}

TEST(ModelErrorsTest, CustomRegisteredLayerIsRefused) {
  json config = Load("mlp_sequential");
  config["config"]["layers"][1]["registered_name"] = "my_package>MyDense";
  EXPECT_THAT(ErrorOf(config), HasSubstr("refused: layer 'dense' is the custom layer "
                                         "'my_package>MyDense'"));
}

TEST(ModelErrorsTest, SubclassedModelIsRefused) {
  json config = Load("mlp_sequential");
  config["class_name"] = "MyModel";
  EXPECT_THAT(ErrorOf(config), HasSubstr("unsupported model class 'MyModel'"));
}

TEST(ModelErrorsTest, IncompatibleShapesBetweenLayers) {
  // dense_1 now gives 64 features; dense_2 was built (build_config) for 128.
  json config = Load("mlp_sequential");
  config["config"]["layers"][2]["config"]["units"] = 64;
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'dense_2' (Dense): expected input with last "
                                         "dimension 128, received (None, 64)"));
}

TEST(ModelErrorsTest, IncompatibleShapesInAMergeLayer) {
  json config = Load("functional_dict_inputs");
  for (json& layer : config["config"]["layers"]) {
    if (layer["name"] == "right") layer["config"]["batch_shape"] = {nullptr, 5};
  }
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'add' (Add): "));
}

TEST(ModelErrorsTest, BadArgumentIsNamedKerasStyle) {
  json config = Load("mlp_sequential");
  config["config"]["layers"][2]["config"]["units"] = -3;
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'dense_1': argument `units` must be a positive "
                                         "integer. Received: units=-3"));
}

TEST(ModelErrorsTest, ChannelsFirstIsRefused) {
  json config = Load("cnn_sequential");
  config["config"]["layers"][1]["config"]["data_format"] = "channels_first";
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'conv2d': data_format='channels_first' is not "
                                         "supported"));
}

TEST(ModelErrorsTest, UnknownActivation) {
  json config = Load("mlp_sequential");
  config["config"]["layers"][1]["config"]["activation"] = "relux";
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'dense': unknown activation 'relux'; supported: "));
}

TEST(ModelErrorsTest, UnknownInitializer) {
  json config = Load("mlp_sequential");
  config["config"]["layers"][1]["config"]["kernel_initializer"]["class_name"] = "Magic";
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'dense': argument `kernel_initializer` (Magic): "
                                         "unknown initializer 'Magic'"));
}

TEST(ModelErrorsTest, UnknownRegularizer) {
  json config = Load("mlp_sequential");
  config["config"]["layers"][2]["config"]["kernel_regularizer"]["class_name"] =
      "OrthogonalRegularizer";
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'dense_1': argument `kernel_regularizer`: "
                                         "unsupported regularizer 'OrthogonalRegularizer'"));
}

TEST(ModelErrorsTest, InboundNodeNamesAMissingLayer) {
  json config = Load("embedding_functional");
  for (json& layer : config["config"]["layers"]) {
    if (layer["name"] == "flatten") {
      layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "nope";
    }
  }
  EXPECT_THAT(ErrorOf(config), HasSubstr("a keras_history refers to layer 'nope', which the "
                                         "model lacks"));
}

TEST(ModelErrorsTest, MalformedInboundNode) {
  json config = Load("embedding_functional");
  for (json& layer : config["config"]["layers"]) {
    if (layer["name"] == "dense") layer["inbound_nodes"][0] = {{"args", 5}};
  }
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'dense' inbound_nodes[0]: expected an inbound "
                                         "node {\"args\": [...], \"kwargs\": {...}}"));
}

TEST(ModelErrorsTest, MalformedStructure) {
  EXPECT_THAT(ErrorOf(json::array()), HasSubstr("model: expected an object with a string "
                                                "\"class_name\""));
  json config = Load("mlp_sequential");
  config["config"]["layers"] = 3;
  EXPECT_THAT(ErrorOf(config), HasSubstr("Sequential config: expected a \"layers\" list"));
}

TEST(ModelErrorsTest, SequentialWithoutInputShape) {
  json config = Load("sequential_build_config");
  config["config"]["layers"].erase(0);  // the InputLayer
  config.erase("build_config");
  config["config"].erase("build_input_shape");
  for (json& layer : config["config"]["layers"]) layer.erase("build_config");
  EXPECT_THAT(ErrorOf(config), HasSubstr("Sequential model 'no_input_layer' has no InputLayer "
                                         "and no build_config input_shape"));
}

TEST(ModelErrorsTest, ErrorsInsideANestedModelNameIt) {
  json config = Load("nested_functional");
  for (json& layer : config["config"]["layers"]) {
    if (layer["name"] == "inner") layer["config"]["layers"][1]["class_name"] = "Foo";
  }
  EXPECT_THAT(ErrorOf(config), HasSubstr("model.json: in nested model 'inner': unknown layer "
                                         "class 'Foo' (layer 'dense')"));
}

TEST(ModelErrorsTest, BadInputDtype) {
  json config = Load("embedding_functional");
  config["config"]["layers"][0]["config"]["dtype"] = "complex64";
  EXPECT_THAT(ErrorOf(config), HasSubstr("layer 'tokens' (InputLayer): argument `dtype` must be "
                                         "a known dtype. Received: dtype='complex64'"));
}

}  // namespace
}  // namespace fornax

namespace fornax {
namespace {

// Replaces every value of the config tree, one at a time, with values of the
// wrong type: parsing must return a status (ok or InvalidArgument), never
// crash or throw.
void Mutate(const json& root, json& node, int depth, int* parses) {
  if (depth > 6) return;
  auto visit = [&](json& child) {
    const json saved = child;
    for (const json& replacement :
         {json(), json(7), json(-1), json("x"), json::array(), json::object()}) {
      child = replacement;
      absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(root, "fuzz.json");
      if (!model.ok()) {
        ASSERT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument)
            << model.status().ToString();
      }
      ++*parses;
    }
    child = saved;
    Mutate(root, child, depth + 1, parses);
  };
  if (node.is_object()) {
    for (auto& [key, child] : node.items()) visit(child);
  } else if (node.is_array()) {
    for (json& child : node) visit(child);
  }
}

TEST(ModelErrorsTest, WrongTypesAnywhereNeverCrash) {
  for (const char* name : {"functional_dict_inputs", "sequential_build_config", "nested_functional",
                           "many_layers_sequential"}) {
    json config = Load(name);
    int parses = 0;
    Mutate(config, config, 0, &parses);
    EXPECT_GT(parses, 100) << name;
  }
}

}  // namespace
}  // namespace fornax
