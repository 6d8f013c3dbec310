// SaveKerasArchive: Keras's class-name-to-group naming, the zip's members
// (order, stored uncompressed) and the compile_config Keras's compile()
// records. That real Keras loads the archives is tests/interop's job.
#include "engine/archive/keras_archive.h"
#include "engine/archive/keras_layout.h"

#include <zip.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

TEST(KerasSnakeCaseTest, MatchesKerasNamingToSnakeCase) {
  EXPECT_EQ(KerasSnakeCase("Dense"), "dense");
  EXPECT_EQ(KerasSnakeCase("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(KerasSnakeCase("Conv2D"), "conv2d");
  EXPECT_EQ(KerasSnakeCase("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(KerasSnakeCase("InputLayer"), "input_layer");
  EXPECT_EQ(KerasSnakeCase("GlobalAveragePooling2D"), "global_average_pooling2d");
}

std::unique_ptr<Trainer> MlpTrainer(json optimizer) {
  const char* source = std::getenv("FORNAX_SOURCE_DIR");
  const std::string root = source != nullptr ? source : FORNAX_TEST_SOURCE_DIR;
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::FromJsonFile(root + "/examples/fashion_mlp/model.json");
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return nullptr;
  CompileConfig compile;
  compile.optimizer = std::move(optimizer);
  compile.loss = "sparse_categorical_crossentropy";
  compile.metrics = json::array({"accuracy"});
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      Trainer::Create(*std::move(model), compile, 1);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  return trainer.ok() ? *std::move(trainer) : nullptr;
}

TEST(KerasArchiveTest, WritesThreeStoredMembersInKerasOrder) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("adam");
  ASSERT_NE(trainer, nullptr);
  const std::string path =
      (std::filesystem::temp_directory_path() / "fornax_archive_test.keras").string();
  ASSERT_TRUE(SaveKerasArchive(path, *trainer).ok());
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
  ASSERT_NE(zip, nullptr);
  ASSERT_EQ(zip_get_num_entries(zip, 0), 3);
  const std::vector<std::string> expected = {"metadata.json", "config.json", "model.weights.h5"};
  for (zip_uint64_t i = 0; i < 3; ++i) {
    zip_stat_t stat;
    ASSERT_EQ(zip_stat_index(zip, i, 0, &stat), 0);
    EXPECT_EQ(stat.name, expected[i]);
    EXPECT_EQ(stat.comp_method, ZIP_CM_STORE) << stat.name;
  }
  zip_close(zip);
  std::filesystem::remove(path);
}

TEST(KerasArchiveTest, CompileConfigIsWhatKerasCompileRecords) {
  std::unique_ptr<Trainer> trainer =
      MlpTrainer(json{{"class_name", "Adam"}, {"config", {{"learning_rate", 0.01}}}});
  ASSERT_NE(trainer, nullptr);
  absl::StatusOr<json> config = KerasArchiveConfig(*trainer);
  ASSERT_TRUE(config.ok()) << config.status();
  const json& compile = (*config)["compile_config"];
  std::vector<std::string> keys;
  for (const auto& [key, value] : compile.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"jit_compile", "loss", "loss_weights", "metrics",
                                            "optimizer", "run_eagerly", "steps_per_execution",
                                            "weighted_metrics"}));
  const json& optimizer = compile["optimizer"];
  EXPECT_EQ(optimizer["module"], "keras.optimizers");
  EXPECT_EQ(optimizer["class_name"], "Adam");
  EXPECT_TRUE(optimizer["registered_name"].is_null());
  EXPECT_EQ(optimizer["config"]["name"], "adam");
  // The float32 variable's value, as Keras serializes it.
  EXPECT_EQ(optimizer["config"]["learning_rate"].get<double>(),
            static_cast<double>(static_cast<float>(0.01)));
  EXPECT_EQ(compile["loss"], "sparse_categorical_crossentropy");
  EXPECT_EQ((*config)["build_config"], json::parse(R"({"input_shape": [null, 784]})"));
}

TEST(KerasArchiveTest, UnwritableDestinationIsAnError) {
  std::unique_ptr<Trainer> trainer = MlpTrainer("sgd");
  ASSERT_NE(trainer, nullptr);
  absl::Status status = SaveKerasArchive("/nonexistent_dir/x/model.keras", *trainer);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent_dir/x/model.keras"), std::string::npos)
      << status;
}

}  // namespace
}  // namespace fornax
