// End-to-end tests of the `fornax` binary: every bad input exits 2 with one
// precise "fornax: error:" line, and a small real training run writes the
// history JSON.
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/data/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/run_fornax.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;
using testing::RunFornax;
using testing::RunResult;
using testing::SourceDir;
using ::testing::StartsWith;

std::string CliModel(const std::string& name) {
  return SourceDir() + "/tests/testdata/cli/" + name;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 64 samples for the 784 -> 10 test model.
    Tensor x(DType::kFloat32, Shape{64, 784});
    Tensor y(DType::kUInt8, Shape{64});
    for (int64_t i = 0; i < 64; ++i) y.data<uint8_t>()[i] = static_cast<uint8_t>(i % 10);
    ASSERT_TRUE(WriteNpy(dir_.File("x.npy"), x).ok());
    ASSERT_TRUE(WriteNpy(dir_.File("y.npy"), y).ok());
  }

  // A job for `model` with x.npy / y.npy unless overridden.
  std::string Job(const std::string& model, const std::string& x = "x.npy",
                  const std::string& y = "y.npy", const std::string& fit = "{epochs: 1}") {
    return dir_.Write("job.yaml", "model: " + model +
                                      "\ncompile: {optimizer: adam, loss: "
                                      "sparse_categorical_crossentropy, metrics: [accuracy]}\n"
                                      "fit: " +
                                      fit + "\ndata: {train: {x: " + x + ", y: " + y + "}}\n");
  }

  // Runs `fornax train JOB` and checks the bad-input contract: exit 2 and
  // exactly one "fornax: error: ..." line on stderr.
  std::string ExpectBadInput(const std::string& job) {
    RunResult r = RunFornax(dir_, {"train", job});
    EXPECT_EQ(r.exit_code, 2) << r.err << r.out;
    EXPECT_THAT(r.err, StartsWith("fornax: error: "));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    return r.err;
  }

  testing::TempDir dir_;
};

TEST_F(CliTest, MalformedModelJson) {
  std::string err = ExpectBadInput(Job(CliModel("malformed.json")));
  EXPECT_THAT(err, HasSubstr(CliModel("malformed.json") + ": malformed JSON"));
}

TEST_F(CliTest, MalformedJobYaml) {
  std::string job = dir_.Write("job.yaml", "model: m.json\ncompile: {loss: mse\nfit: {}\n");
  EXPECT_THAT(ExpectBadInput(job), HasSubstr(job + ":3:4: malformed YAML"));
}

TEST_F(CliTest, UnknownLayerClass) {
  std::string err = ExpectBadInput(Job(CliModel("unknown_layer.json")));
  EXPECT_THAT(err, HasSubstr("unknown_layer.json"));
  EXPECT_THAT(err, HasSubstr("unknown layer class 'FancyDense' (layer 'hidden')"));
}

TEST_F(CliTest, LambdaLayerIsRefused) {
  std::string err = ExpectBadInput(Job(CliModel("lambda_layer.json")));
  EXPECT_THAT(err, HasSubstr("lambda_layer.json"));
  EXPECT_THAT(err, HasSubstr("layer 'double' is a Lambda layer"));
}

TEST_F(CliTest, IncompatibleShapesBetweenLayers) {
  std::string err = ExpectBadInput(Job(CliModel("incompatible_shapes.json")));
  EXPECT_THAT(err, HasSubstr("incompatible_shapes.json"));
  EXPECT_THAT(err, HasSubstr("layer 'add' (Add)"));
  EXPECT_THAT(err, HasSubstr("shapes (None, 32) and (None, 16) cannot be broadcast"));
}

TEST_F(CliTest, WrongLabelDType) {
  ASSERT_TRUE(WriteNpy(dir_.File("yf.npy"), Tensor(DType::kFloat32, Shape{64})).ok());
  std::string err = ExpectBadInput(Job(CliModel("small_mlp.json"), "x.npy", "yf.npy"));
  EXPECT_THAT(err, HasSubstr("job.yaml: data.train.y: loss sparse_categorical_crossentropy for "
                             "output 'predictions' expects integer class labels, but " +
                             dir_.File("yf.npy") + " holds float32"));
}

TEST_F(CliTest, LabelCountMismatch) {
  ASSERT_TRUE(WriteNpy(dir_.File("y63.npy"), Tensor(DType::kUInt8, Shape{63})).ok());
  std::string err = ExpectBadInput(Job(CliModel("small_mlp.json"), "x.npy", "y63.npy"));
  EXPECT_THAT(
      err, HasSubstr("data.train.y: " + dir_.File("y63.npy") +
                     " holds 63 samples but data.train.x (" + dir_.File("x.npy") + ") holds 64"));
}

TEST_F(CliTest, MissingDataFile) {
  std::string err = ExpectBadInput(Job(CliModel("small_mlp.json"), "gone.npy"));
  EXPECT_THAT(err,
              HasSubstr("job.yaml: data.train.x: " + dir_.File("gone.npy") + ": no such file"));
}

TEST_F(CliTest, TruncatedDataFile) {
  // A gzipped IDX header for 60000 28x28 images followed by 1000 bytes.
  std::string bytes = {0, 0, 8, 3, 0, 0, '\xea', '\x60', 0, 0, 0, 28, 0, 0, 0, 28};
  bytes += std::string(1000, '\x01');
  const std::string path = dir_.File("train-images-idx3-ubyte.gz");
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  std::string err = ExpectBadInput(Job(CliModel("small_mlp.json"), path));
  EXPECT_THAT(err, HasSubstr(path + ": truncated: header declares 60000 images of 28x28 "
                                    "(47040000 bytes) but the file holds 1000 bytes"));
}

TEST_F(CliTest, BadFieldValue) {
  std::string err = ExpectBadInput(
      Job(CliModel("small_mlp.json"), "x.npy", "y.npy", "{epochs: 1, batch_size: abc}"));
  EXPECT_THAT(err, HasSubstr("job.yaml: fit.batch_size: expected a positive integer, got 'abc'"));
}

TEST_F(CliTest, ShapeMismatchBetweenDataAndModel) {
  ASSERT_TRUE(WriteNpy(dir_.File("x28.npy"), Tensor(DType::kUInt8, Shape{64, 28, 28})).ok());
  std::string err = ExpectBadInput(Job(CliModel("small_mlp.json"), "x28.npy"));
  EXPECT_THAT(err, HasSubstr("data.train.x: model input 'image' expects samples of shape (784,) "
                             "but " +
                             dir_.File("x28.npy") +
                             " holds samples of shape (28, 28) (add 'reshape: [784]')"));
}

TEST_F(CliTest, MissingJobFileAndBadCommandLine) {
  RunResult r = RunFornax(dir_, {"train", dir_.File("nope.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("nope.yaml: no such file"));
  r = RunFornax(dir_, {"train", "a.yaml", "--histroy", "h.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown flag '--histroy'"));
  r = RunFornax(dir_, {"train", "a.yaml", "--threads", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--threads: expected an integer between 1 and 256, got '0'"));
  r = RunFornax(dir_, {"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'frobnicate'"));
}

TEST_F(CliTest, HelpAndVersion) {
  RunResult r = RunFornax(dir_, {"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("usage: fornax COMMAND"));
  r = RunFornax(dir_, {"train", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--history FILE"));
  r = RunFornax(dir_, {"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, StartsWith("fornax "));
}

TEST_F(CliTest, InspectPrintsSummaryAndPlan) {
  RunResult r = RunFornax(dir_, {"inspect", CliModel("small_mlp.json"), "--batch-size", "16",
                                 "--loss", "sparse_categorical_crossentropy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("small_mlp"));
  EXPECT_THAT(r.out, HasSubstr("25,450"));  // 784*32+32 + 32*10+10 parameters
  EXPECT_THAT(r.out, HasSubstr("Compiled train step (batch size 16)"));
  r = RunFornax(dir_, {"inspect", CliModel("lambda_layer.json")});
  EXPECT_EQ(r.exit_code, 2);
}

// A short real run on a Fashion-MNIST subset: history per epoch and the test
// evaluation, and one plain progress line per epoch on a pipe.
TEST_F(CliTest, TrainsOnAFashionSubsetAndWritesHistory) {
  const std::string fashion = testing::kFashionDir;
  const std::string x = "{path: " + fashion +
                        "/train-images-idx3-ubyte.gz, scale: 0.00392156862745098, reshape: [784]}";
  const std::string job = dir_.Write(
      "job.yaml", "model: " + CliModel("small_mlp.json") +
                      "\ncompile: {optimizer: adam, loss: sparse_categorical_crossentropy, "
                      "metrics: [accuracy]}\n"
                      "fit: {epochs: 2, batch_size: 128, seed: 3, validation_split: 0.2}\n"
                      "data:\n"
                      "  train: {x: " +
                      x + ", y: " + fashion +
                      "/train-labels-idx1-ubyte.gz, limit: 2000}\n"
                      "  test: {x: {path: " +
                      fashion +
                      "/t10k-images-idx3-ubyte.gz, scale: 0.00392156862745098, reshape: [784]}, "
                      "y: " +
                      fashion + "/t10k-labels-idx1-ubyte.gz, limit: 500}\n");
  RunResult r = RunFornax(dir_, {"train", job, "--history", dir_.File("history.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("Epoch 1/2\n13/13 - "));  // 1600 samples / 128
  EXPECT_THAT(r.out, HasSubstr("Epoch 2/2\n13/13 - "));
  EXPECT_THAT(r.out, HasSubstr(" - accuracy: "));
  EXPECT_THAT(r.out, HasSubstr(" - val_loss: "));
  // One train-step trace and one evaluation trace (validation and test share
  // it): the short last batches (1600 % 128, 400 % 128) never retrace.
  EXPECT_THAT(r.out, HasSubstr("\ntraces: 2\n"));

  nlohmann::json h = nlohmann::json::parse(testing::ReadFileOrEmpty(dir_.File("history.json")));
  for (const char* key : {"loss", "accuracy", "val_loss", "val_accuracy"}) {
    ASSERT_TRUE(h.contains(key)) << key << " in " << h.dump();
    EXPECT_EQ(h[key].size(), 2u) << key;
  }
  EXPECT_LT(h["loss"][1].get<double>(), h["loss"][0].get<double>());
  ASSERT_TRUE(h.contains("evaluate"));
  EXPECT_GT(h["evaluate"]["accuracy"].get<double>(), 0.5);  // 10 classes: chance is 0.1
  EXPECT_TRUE(h["evaluate"].contains("loss"));

  RunResult quiet = RunFornax(dir_, {"train", job, "--quiet", "--threads", "2"});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.out, "");
}

}  // namespace
}  // namespace fornax
