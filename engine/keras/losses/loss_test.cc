// Every loss against the value real Keras 3.15 computes for the same inputs
// (keras.losses.<Class>()(y_true, y_pred); generated with the venv's Keras).
#include "engine/keras/losses/loss.h"

#include "engine/keras/losses/graph_test_util.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;
using testing::Floats;

Tensor Logits() {
  return Floats({4, 3},
                {1.0f, 2.0f, 0.5f, 0.1f, -1.0f, 3.0f, 2.0f, 2.0f, -0.5f, -1.0f, 0.0f, 1.0f});
}
Tensor Probs() {
  return Floats({4, 3}, {0.2f, 0.7f, 0.1f, 0.05f, 0.05f, 0.9f, 0.5f, 0.4f, 0.1f, 0.0f, 0.3f, 0.7f});
}
Tensor Sparse() { return Tensor::FromInts({4}, std::vector<int32_t>{1, 2, 0, 0}); }
Tensor OneHot() { return Floats({4, 3}, {0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0}); }
Tensor RegTrue() { return Floats({4, 2}, {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 0.0f, 0.0f}); }
Tensor RegPred() { return Floats({4, 2}, {1.5f, 1.0f, 0.5f, 1.5f, 0.0f, 0.2f, -0.1f, 0.05f}); }
Tensor BinTrue() { return Floats({4, 1}, {1, 0, 1, 0}); }
Tensor BinProb() { return Floats({4, 1}, {0.9f, 0.6f, 0.3f, 0.0f}); }
Tensor BinLogit() { return Floats({4, 1}, {2.0f, 0.5f, -1.0f, -3.0f}); }

Shape WithBatch(const Tensor& t) {
  std::vector<int64_t> dims = t.shape().dims();
  dims[0] = kBatch;
  return Shape(dims);
}

// Runs the loss resolved from `config` on (y_true, y_pred).
double RunLoss(const json& config, const Tensor& y_true, const Tensor& y_pred,
               const std::string& backend) {
  absl::StatusOr<std::unique_ptr<Loss>> loss =
      LossFromConfig(config, WithBatch(y_true), WithBatch(y_pred));
  EXPECT_TRUE(loss.ok()) << loss.status();
  if (!loss.ok()) return NAN;
  Graph graph;
  Builder b(&graph);
  ValueId t = b.Input(0, y_true.dtype(), WithBatch(y_true));
  ValueId p = b.Input(1, y_pred.dtype(), WithBatch(y_pred));
  graph.set_outputs({(*loss)->Call(b, t, p)});
  EXPECT_TRUE(b.ok()) << b.status();
  std::vector<Tensor> inputs = {y_true, y_pred};
  absl::StatusOr<std::vector<Tensor>> out = testing::CompileAndRun(graph, inputs, {}, backend);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0].GetAsDouble(0) : NAN;
}

struct LossCase {
  const char* name;
  json config;
  Tensor (*y_true)();
  Tensor (*y_pred)();
  double keras;  // keras 3.15
};

class LossTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LossTest, MatchesKeras) {
  const std::vector<LossCase> cases = {
      {"mse", "mean_squared_error", RegTrue, RegPred, 2.0690627098083496},
      {"mae", "mae", RegTrue, RegPred, 0.918749988079071},
      {"huber", "huber", RegTrue, RegPred, 0.6439062356948853},
      {"huber_d2",
       {{"class_name", "Huber"}, {"config", {{"delta", 2.0}}}},
       RegTrue,
       RegPred,
       0.9564062356948853},
      {"mse_sum",
       {{"class_name", "MeanSquaredError"}, {"config", {{"reduction", "sum"}}}},
       RegTrue,
       RegPred,
       8.276250839233398},
      {"bce", "binary_crossentropy", BinTrue, BinProb, 0.5564060211181641},
      {"bce_logits",
       {{"class_name", "BinaryCrossentropy"}, {"config", {{"from_logits", true}}}},
       BinTrue,
       BinLogit,
       0.6157134771347046},
      {"bce_ls",
       {{"class_name", "BinaryCrossentropy"}, {"config", {{"label_smoothing", 0.2}}}},
       BinTrue,
       BinProb,
       0.9829699993133545},
      {"cce", "categorical_crossentropy", OneHot, Probs, 4.318319320678711},
      {"cce_logits",
       {{"class_name", "CategoricalCrossentropy"}, {"config", {{"from_logits", true}}}},
       OneHot,
       Logits,
       0.9190296530723572},
      {"cce_ls",
       {{"class_name", "CategoricalCrossentropy"}, {"config", {{"label_smoothing", 0.1}}}},
       OneHot,
       Probs,
       4.152790069580078},
      {"scce", "sparse_categorical_crossentropy", Sparse, Probs, 4.318319320678711},
      {"scce_logits",
       {{"class_name", "SparseCategoricalCrossentropy"},
        {"config", {{"from_logits", true}, {"reduction", "sum_over_batch_size"}}}},
       Sparse,
       Logits,
       0.9190296530723572},
      {"ce_resolves_sparse", "crossentropy", Sparse, Probs, 4.318319320678711},
  };
  for (const LossCase& c : cases) {
    SCOPED_TRACE(c.name);
    const double got = RunLoss(c.config, c.y_true(), c.y_pred(), GetParam());
    EXPECT_NEAR(got, c.keras, 2e-6 * std::max(1.0, std::abs(c.keras)));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, LossTest, ::testing::Values("reference", "cpu"));

TEST(LossFromConfigTest, RejectsUnknownLossAndBadFields) {
  absl::StatusOr<std::unique_ptr<Loss>> unknown =
      LossFromConfig("hinge_of_doom", {kBatch}, {kBatch});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("hinge_of_doom"), std::string::npos);
  absl::StatusOr<std::unique_ptr<Loss>> bad = LossFromConfig(
      json{{"class_name", "Huber"}, {"config", {{"delta", "big"}}}}, {kBatch}, {kBatch});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("delta"), std::string::npos);
}

TEST(LossFromConfigTest, SparseLossWantsIntLabels) {
  auto loss = LossFromConfig("sparse_categorical_crossentropy", {kBatch}, {kBatch, 10});
  ASSERT_TRUE(loss.ok());
  EXPECT_EQ((*loss)->label_dtype(), DType::kInt32);
  EXPECT_EQ((*loss)->name(), "sparse_categorical_crossentropy");
}

}  // namespace
}  // namespace fornax
