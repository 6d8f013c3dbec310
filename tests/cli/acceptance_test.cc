// The M1-1 acceptance runs through the real `fornax train`: the examples'
// job files on the full Fashion-MNIST data, with the test accuracy read back
// from --history. Registered one CTest per example (label "acceptance"; the
// CNN, 1.5-3 minutes on 2 cores, also "slow": `ctest -LE slow` leaves it out).
#include <cmath>
#include <filesystem>
#include <string>

#include "engine/data/idx.h"
#include "engine/data/npz.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/run_fornax.h"

namespace fornax {
namespace {

using testing::RunFornax;
using testing::RunResult;
using testing::SourceDir;

nlohmann::json TrainExample(const testing::TempDir& dir, const std::string& job) {
  RunResult r = RunFornax(dir, {"train", job, "--history", dir.File("history.json")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::cout << r.out << r.err;
  if (r.exit_code != 0) return nlohmann::json();
  return nlohmann::json::parse(testing::ReadFileOrEmpty(dir.File("history.json")));
}

TEST(Acceptance, FashionMlp) {
  testing::TempDir dir;
  nlohmann::json h = TrainExample(dir, SourceDir() + "/examples/fashion_mlp/job.yaml");
  ASSERT_TRUE(h.contains("evaluate")) << h.dump();
  EXPECT_EQ(h["loss"].size(), 5u);
  EXPECT_GE(h["evaluate"]["accuracy"].get<double>(), 0.87) << h.dump();
}

TEST(Acceptance, FashionCnn) {
  testing::TempDir dir;
  nlohmann::json h = TrainExample(dir, SourceDir() + "/examples/fashion_cnn/job.yaml");
  ASSERT_TRUE(h.contains("evaluate")) << h.dump();
  EXPECT_EQ(h["loss"].size(), 5u);
  EXPECT_GE(h["evaluate"]["accuracy"].get<double>(), 0.90) << h.dump();
}

// What examples/functional_two_io/make_data.py writes, computed with the
// engine's own readers so the test needs no Python.
void WriteDerivedData(const std::string& split, const std::string& out_path) {
  absl::StatusOr<Tensor> images =
      ReadIdx(std::string(testing::kFashionDir) + "/" + split + "-images-idx3-ubyte.gz");
  ASSERT_TRUE(images.ok()) << images.status();
  const int64_t n = images->shape().dim(0);
  Tensor row_means(DType::kFloat32, Shape{n, 28});
  Tensor brightness(DType::kFloat32, Shape{n, 1});
  const uint8_t* px = images->data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    float total = 0;
    for (int64_t r = 0; r < 28; ++r) {
      float row = 0;
      for (int64_t c = 0; c < 28; ++c) row += static_cast<float>(px[(i * 28 + r) * 28 + c]) / 255.f;
      row_means.data<float>()[i * 28 + r] = row / 28.f;
      total += row;
    }
    brightness.data<float>()[i] = total / 784.f;
  }
  ASSERT_TRUE(WriteNpz(out_path, {{"row_means", row_means}, {"brightness", brightness}}).ok());
}

TEST(Acceptance, FunctionalTwoIo) {
  testing::TempDir dir;
  const std::filesystem::path example = SourceDir() + "/examples/functional_two_io";
  std::filesystem::copy_file(example / "job.yaml", dir.File("job.yaml"));
  std::filesystem::copy_file(example / "model.json", dir.File("model.json"));
  std::filesystem::create_directories(dir.File("data"));
  WriteDerivedData("train", dir.File("data/train.npz"));
  WriteDerivedData("t10k", dir.File("data/t10k.npz"));

  nlohmann::json h = TrainExample(dir, dir.File("job.yaml"));
  ASSERT_TRUE(h.contains("loss")) << h.dump();
  const size_t epochs = h["loss"].size();
  ASSERT_GE(epochs, 1u);
  EXPECT_LT(h["loss"][epochs - 1].get<double>(), h["loss"][0].get<double>() + 1e-9);
  for (const char* key : {"label_loss", "brightness_loss", "val_loss"}) {
    EXPECT_TRUE(h.contains(key)) << key << " missing from " << h.dump();
  }
  ASSERT_TRUE(h.contains("evaluate"));
  EXPECT_GE(h["evaluate"]["label_accuracy"].get<double>(), 0.8) << h.dump();
  // Predicting the mean brightness for every image gives an MAE of 0.105.
  EXPECT_LT(h["evaluate"]["brightness_mae"].get<double>(), 0.08) << h.dump();
}

}  // namespace
}  // namespace fornax
