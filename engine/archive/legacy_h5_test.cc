// Legacy full-model .h5 files written by real Keras 3.15 (model.save("x.h5"),
// tests/testdata/archives/make_legacy.py): the model, weights, compile
// arguments and optimizer state load through LoadKerasArchive and predict
// what Keras predicted; broken copies are refused with a message naming the
// attribute, group, layer or dataset.
#include <cmath>
#include <iostream>
#include <memory>
#include <string>

#include "engine/archive/keras_archive.h"
#include "engine/data/npz.h"
#include "engine/data/test_files.h"
#include "engine/keras/optimizers/optimizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

std::string Archives() { return testing::SourceDir() + "/tests/testdata/archives/"; }

// max |fornax - keras| over `name`'s predict.npz rows.
double MaxPredictDiff(Trainer& trainer, const std::string& name) {
  const std::string npz = Archives() + name + ".predict.npz";
  absl::StatusOr<Tensor> x = ReadNpzMember(npz, "x");
  absl::StatusOr<Tensor> y = ReadNpzMember(npz, "y");
  EXPECT_TRUE(x.ok() && y.ok()) << npz;
  if (!x.ok() || !y.ok()) return INFINITY;
  absl::StatusOr<std::vector<Tensor>> got = trainer.Predict({*x}, 32);
  EXPECT_TRUE(got.ok()) << got.status();
  if (!got.ok() || (*got)[0].shape() != y->shape()) return INFINITY;
  double diff = 0;
  for (int64_t i = 0; i < y->num_elements(); ++i) {
    diff = std::max(
        diff, std::abs(static_cast<double>((*got)[0].data<float>()[i]) - y->data<float>()[i]));
  }
  return diff;
}

TEST(LegacyH5Test, KerasMlpAndCnnPredictTheSame) {
  for (const std::string name : {"legacy_mlp", "legacy_cnn_bn"}) {
    absl::StatusOr<std::unique_ptr<Trainer>> trainer =
        LoadKerasArchive(Archives() + name + ".h5", 0);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    const double diff = MaxPredictDiff(**trainer, name);
    EXPECT_LE(diff, 1e-5) << name;
    std::cout << name << ": max |fornax - keras| = " << diff << "\n";
    // training_config is the compile default; optimizer_weights (Keras 3's
    // legacy layout) restore the step count.
    EXPECT_EQ((*trainer)->optimizer().name(), "adam") << name;
    EXPECT_EQ((*trainer)->iterations(), 3) << name;
  }
  absl::StatusOr<std::unique_ptr<Trainer>> mlp = LoadKerasArchive(Archives() + "legacy_mlp.h5", 0);
  ASSERT_TRUE(mlp.ok());
  EXPECT_EQ((*mlp)->compile_config().loss, "mse");
}

TEST(LegacyH5Test, TfKeras2NamesLoadWeightsAndStartTheOptimizerFresh) {
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      LoadKerasArchive(Archives() + "legacy_mlp_k2names.h5", 0);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_LE(MaxPredictDiff(**trainer, "legacy_mlp"), 1e-5);
  EXPECT_EQ((*trainer)->iterations(), 0);  // Adam/iter + m's + v's: not Keras 3's layout
}

TEST(LegacyH5Test, ListsSplitIntoChunksLoad) {
  // Keras splits lists over 64 KB into layer_names0, layer_names1, ...
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      LoadKerasArchive(Archives() + "legacy_mlp_chunked.h5", 0);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_LE(MaxPredictDiff(**trainer, "legacy_mlp"), 1e-5);
  EXPECT_EQ((*trainer)->iterations(), 3);
}

TEST(LegacyH5Test, JobCompileKeysOverrideTrainingConfig) {
  CompileConfig compile;
  compile.optimizer = "sgd";
  compile.loss = "mae";
  const std::vector<std::string> keys = {"optimizer"};
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      LoadKerasArchive(Archives() + "legacy_mlp.h5", 0, &compile, &keys);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_EQ((*trainer)->optimizer().name(), "sgd");
  EXPECT_EQ((*trainer)->compile_config().loss, "mse");  // not a job key: the file's
  EXPECT_EQ((*trainer)->iterations(), 0);               // adam's state does not fit sgd
}

struct HostileCase {
  std::string file;
  std::vector<std::string> message;  // substrings
};

void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.file; }

class LegacyH5HostileTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(LegacyH5HostileTest, RefusedWithAPreciseMessage) {
  const std::string path = Archives() + GetParam().file;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = LoadKerasArchive(path, 0);
  ASSERT_FALSE(trainer.ok());
  EXPECT_NE(trainer.status().code(), absl::StatusCode::kInternal) << trainer.status();
  EXPECT_THAT(std::string(trainer.status().message()), ::testing::StartsWith(path));
  for (const std::string& part : GetParam().message) {
    EXPECT_THAT(std::string(trainer.status().message()), ::testing::HasSubstr(part));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, LegacyH5HostileTest,
    ::testing::Values(
        HostileCase{"legacy_hostile_no_model_config.h5",
                    {"without a 'model_config' attribute", "weights only"}},
        HostileCase{"legacy_hostile_model_config_not_json.h5",
                    {"'model_config' attribute is not a JSON object"}},
        HostileCase{"legacy_hostile_bad_weight_names.h5",
                    {"dataset 'model_weights/dense_1/mlp/dense_1/no_such_bias' is missing"}},
        HostileCase{"legacy_hostile_weight_count.h5",
                    {"model_weights/dense: layer 'dense' expected 2 variables "
                     "[dense/kernel, dense/bias], but weight_names lists 1 [mlp/dense/kernel]"}},
        HostileCase{"legacy_hostile_missing_layer.h5",
                    {"model_weights/dense_2: the file has no weights for layer 'dense_2'"}},
        HostileCase{"legacy_hostile_shape_mismatch.h5",
                    {"dataset 'model_weights/dense_2/mlp/dense_2/bias' (dense_2/bias): expected "
                     "shape (3,), received (5,)"}},
        HostileCase{"legacy_hostile_weights_not_numeric.h5",
                    {"dataset 'model_weights/dense/mlp/dense/bias'", "unsupported element type"}}),
    [](const ::testing::TestParamInfo<HostileCase>& info) {
      std::string name = info.param.file.substr(15);  // after "legacy_hostile_"
      name.resize(name.size() - 3);                   // ".h5"
      return name;
    });

}  // namespace
}  // namespace fornax
