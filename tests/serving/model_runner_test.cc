// ModelRunner: the predict plan's capacity is bounded by bytes, not by
// max_batch_size, and a batch larger than the capacity (run in chunks) gives
// the outputs of one call over the whole batch, and Keras's.
#include "server/inference/model_runner.h"

#include <cstring>
#include <thread>
#include <vector>

#include "engine/archive/example_archive_test_util.h"
#include "engine/archive/keras_archive.h"
#include "engine/data/npz.h"
#include "engine/data/test_files.h"
#include "gtest/gtest.h"

namespace fornax::serving {
namespace {

std::string Archive(const std::string& name) {
  return testing::SourceDir() + "/tests/testdata/archives/" + name;
}

// `rows` rows cycling through the rows of `x`.
Tensor Tile(const Tensor& x, int64_t rows) {
  std::vector<int64_t> dims = x.shape().dims();
  const int64_t n = dims[0];
  dims[0] = rows;
  Tensor out(x.dtype(), Shape(dims));
  const size_t row_bytes = x.byte_size() / static_cast<size_t>(n);
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(static_cast<char*>(out.raw_data()) + static_cast<size_t>(r) * row_bytes,
                static_cast<const char*>(x.raw_data()) + static_cast<size_t>(r % n) * row_bytes,
                row_bytes);
  }
  return out;
}

TEST(ModelRunnerTest, CapacityIsBoundedByBytesNotMaxBatchSize) {
  absl::StatusOr<std::unique_ptr<ModelRunner>> small =
      ModelRunner::Load(Archive("cnn_bn.keras"), 4);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ((*small)->capacity(), 4);

  absl::StatusOr<std::unique_ptr<ModelRunner>> huge =
      ModelRunner::Load(Archive("cnn_bn.keras"), 100'000'000);
  ASSERT_TRUE(huge.ok()) << huge.status();
  const int64_t capacity = (*huge)->capacity();
  EXPECT_GT(capacity, 64);
  EXPECT_LT(capacity, 100'000'000);
  // The plan at that capacity fits the budget.
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      LoadKerasArchive(Archive("cnn_bn.keras"), /*seed=*/0);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  absl::StatusOr<size_t> arena = (*trainer)->PredictArenaBytes(capacity);
  ASSERT_TRUE(arena.ok()) << arena.status();
  EXPECT_LE(*arena, ModelRunner::kPlanBytes);
  EXPECT_GT(*arena, ModelRunner::kPlanBytes / 4);  // the budget is used, not wasted
}

TEST(ModelRunnerTest, BatchLargerThanCapacityMatchesOneCallAndKeras) {
  for (const char* name : {"cnn_bn", "mlp_adam"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<std::unique_ptr<ModelRunner>> runner =
        ModelRunner::Load(Archive(std::string(name) + ".keras"), 100'000'000);
    ASSERT_TRUE(runner.ok()) << runner.status();
    const int64_t rows = 2 * (*runner)->capacity() + 3;
    const std::string npz = Archive(std::string(name) + ".predict.npz");
    absl::StatusOr<Tensor> x = ReadNpzMember(npz, "x");
    absl::StatusOr<Tensor> keras = ReadNpzMember(npz, "y");
    ASSERT_TRUE(x.ok() && keras.ok()) << npz;
    const Tensor batch = Tile(*x, rows);

    absl::StatusOr<std::vector<Tensor>> chunked = (*runner)->Run({batch});
    ASSERT_TRUE(chunked.ok()) << chunked.status();
    absl::StatusOr<std::unique_ptr<Trainer>> trainer =
        LoadKerasArchive(Archive(std::string(name) + ".keras"), /*seed=*/0);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    absl::StatusOr<std::vector<Tensor>> whole = (*trainer)->Predict({batch}, rows);
    ASSERT_TRUE(whole.ok()) << whole.status();

    ASSERT_EQ((*chunked)[0].shape(), (*whole)[0].shape());
    EXPECT_EQ(
        std::memcmp((*chunked)[0].raw_data(), (*whole)[0].raw_data(), (*whole)[0].byte_size()), 0);
    const Tensor expected = Tile(*keras, rows);
    const float* got = (*chunked)[0].data<float>();
    const float* want = expected.data<float>();
    double diff = 0;
    for (int64_t i = 0; i < expected.num_elements(); ++i) {
      diff = std::max(diff, static_cast<double>(std::abs(got[i] - want[i])));
    }
    EXPECT_LT(diff, 1e-5);
  }
}

// examples/fashion_cnn as a .keras archive with its initial weights: its
// second convolution (32 -> 64 channels, 3x3) runs as oneDNN's Winograd,
// which needs a scratchpad.
std::string FashionCnnArchive(const testing::TempDir& dir) {
  const std::string path = dir.File("fashion_cnn.keras");
  EXPECT_TRUE(testing::SaveExampleArchive("fashion_cnn", path));
  return path;
}

// The plan's primitives are created on the loading thread, by the warm-up,
// and run on others (a request's, the batcher's): oneDNN's default scratchpad
// belongs to the thread that created the primitive, and this crashed.
TEST(ModelRunnerTest, RunsOnAnotherThreadThanTheWarmUp) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<ModelRunner>> runner =
      ModelRunner::Load(FashionCnnArchive(dir), 64);
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_EQ((*runner)->capacity(), 64);
  // The warm-up's plan at its size, and a larger batch in chunks of it.
  for (int64_t rows : {64, 100}) {
    const Tensor batch(DType::kFloat32, Shape({rows, 28, 28, 1}));
    absl::StatusOr<std::vector<Tensor>> got = absl::InternalError("not run");
    std::thread([&] { got = (*runner)->Run({batch}); }).join();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)[0].shape(), Shape({rows, 10}));
  }
}

// Two models' batches running at once (two served models, or versions):
// each convolution call borrows its own scratchpad and blocked buffers from
// the pool, so both give the outputs they give alone. Different row counts
// make different cache entries, which do not wait for each other.
TEST(ModelRunnerTest, ConcurrentRunsGiveTheirOutputsAlone) {
  testing::TempDir dir;
  const std::string archive = FashionCnnArchive(dir);
  std::vector<std::unique_ptr<ModelRunner>> runners;
  std::vector<Tensor> batches;
  std::vector<std::vector<Tensor>> alone;
  for (int64_t rows : {64, 61}) {
    absl::StatusOr<std::unique_ptr<ModelRunner>> runner = ModelRunner::Load(archive, 64);
    ASSERT_TRUE(runner.ok()) << runner.status();
    Tensor batch(DType::kFloat32, Shape({rows, 28, 28, 1}));
    float* x = batch.data<float>();
    for (int64_t i = 0; i < batch.num_elements(); ++i) {
      x[i] = static_cast<float>((i * 7919 + rows) % 255) / 255.0f;
    }
    absl::StatusOr<std::vector<Tensor>> got = (*runner)->Run({batch});
    ASSERT_TRUE(got.ok()) << got.status();
    runners.push_back(*std::move(runner));
    batches.push_back(batch);
    alone.push_back(*std::move(got));
  }
  for (int round = 0; round < 20; ++round) {
    std::vector<absl::StatusOr<std::vector<Tensor>>> got(2, absl::InternalError("not run"));
    std::thread other([&] { got[1] = runners[1]->Run({batches[1]}); });
    got[0] = runners[0]->Run({batches[0]});
    other.join();
    for (size_t k = 0; k < 2; ++k) {
      ASSERT_TRUE(got[k].ok()) << got[k].status();
      const Tensor& want = alone[k][0];
      ASSERT_EQ((*got[k])[0].shape(), want.shape());
      ASSERT_EQ(std::memcmp((*got[k])[0].raw_data(), want.raw_data(), want.byte_size()), 0)
          << "round " << round << ", runner " << k;
    }
  }
}

}  // namespace
}  // namespace fornax::serving
