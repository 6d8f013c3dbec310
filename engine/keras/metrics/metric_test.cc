// Metrics against real Keras 3.15 (update_state over one or two batches, then
// result()), run in-graph with state in a VariableStore; names as Keras logs
// them.
#include "engine/keras/metrics/metric.h"

#include "engine/keras/losses/graph_test_util.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;
using testing::Floats;

Shape WithBatch(const Tensor& t) {
  std::vector<int64_t> dims = t.shape().dims();
  dims[0] = kBatch;
  return Shape(dims);
}

// Runs metric.Update on each (y_true, y_pred) batch and returns result().
double RunMetric(Metric& metric, const std::vector<std::pair<Tensor, Tensor>>& batches,
                 const std::string& backend) {
  VariableStore store;
  metric.CreateVariables(&store, "metrics/");
  for (const auto& [y_true, y_pred] : batches) {
    Graph graph;
    Builder b(&graph);
    ValueId t = b.Input(0, y_true.dtype(), WithBatch(y_true));
    ValueId p = b.Input(1, y_pred.dtype(), WithBatch(y_pred));
    metric.Update(b, t, p);
    graph.set_outputs({p});
    EXPECT_TRUE(b.ok()) << b.status();
    std::vector<Tensor> inputs = {y_true, y_pred};
    auto out = testing::CompileAndRun(graph, inputs, store.values(), backend);
    EXPECT_TRUE(out.ok()) << out.status();
  }
  return metric.Result(store);
}

std::unique_ptr<Metric> Resolve(const json& config, const Tensor& y_true, const Tensor& y_pred) {
  auto metric = MetricFromConfig(config, WithBatch(y_true), WithBatch(y_pred));
  EXPECT_TRUE(metric.ok()) << metric.status();
  return metric.ok() ? *std::move(metric) : nullptr;
}

class MetricTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MetricTest, MatchesKeras) {
  const Tensor logits =
      Floats({4, 3}, {1.0f, 2.0f, 0.5f, 0.1f, -1.0f, 3.0f, 2.0f, 2.0f, -0.5f, -1.0f, 0.0f, 1.0f});
  const Tensor probs =
      Floats({4, 3}, {0.2f, 0.7f, 0.1f, 0.05f, 0.05f, 0.9f, 0.5f, 0.4f, 0.1f, 0.0f, 0.3f, 0.7f});
  const Tensor sparse = Tensor::FromInts({4}, std::vector<int32_t>{1, 2, 0, 0});
  const Tensor one_hot = Floats({4, 3}, {0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0});
  const Tensor reg_true = Floats({4, 2}, {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 0.0f, 0.0f});
  const Tensor reg_pred = Floats({4, 2}, {1.5f, 1.0f, 0.5f, 1.5f, 0.0f, 0.2f, -0.1f, 0.05f});
  const Tensor bin_true = Floats({4, 1}, {1, 0, 1, 0});
  const Tensor bin_prob = Floats({4, 1}, {0.9f, 0.6f, 0.3f, 0.0f});

  // "accuracy" resolves by shapes, as compile_utils.get_metric.
  auto sparse_acc = Resolve("accuracy", sparse, probs);
  EXPECT_EQ(sparse_acc->name(), "accuracy");
  EXPECT_NEAR(
      RunMetric(*sparse_acc, {{sparse, probs}, {sparse.SliceRows(0, 2), logits.SliceRows(0, 2)}},
                GetParam()),
      0.8333333134651184, 1e-7);
  auto cat_acc = Resolve("acc", one_hot, logits);
  EXPECT_EQ(cat_acc->name(), "acc");
  EXPECT_NEAR(RunMetric(*cat_acc, {{one_hot, logits}}, GetParam()), 0.75, 1e-7);
  auto bin_acc = Resolve("accuracy", bin_true, bin_prob);
  EXPECT_NEAR(RunMetric(*bin_acc, {{bin_true, bin_prob}}, GetParam()), 0.5, 1e-7);
  auto mae = Resolve(
      json{{"class_name", "MeanAbsoluteError"}, {"config", {{"name", "mean_absolute_error"}}}},
      reg_true, reg_pred);
  EXPECT_EQ(mae->name(), "mean_absolute_error");
  EXPECT_NEAR(
      RunMetric(*mae, {{reg_true, reg_pred}, {reg_true.SliceRows(0, 1), reg_pred.SliceRows(0, 1)}},
                GetParam()),
      0.8850000500679016, 1e-6);
  auto mse = Resolve("mse", reg_true, reg_pred);
  EXPECT_NEAR(RunMetric(*mse, {{reg_true, reg_pred}}, GetParam()), 2.0690627098083496, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Backends, MetricTest, ::testing::Values("reference", "cpu"));

TEST(MeanTest, WeightsScalarValuesLikeTheLossTracker) {
  // keras: Mean(); update_state(2.0, sample_weight=4); update_state(5.0, sample_weight=1)
  Metric mean("loss");
  VariableStore store;
  mean.CreateVariables(&store);
  for (auto [value, weight] : {std::pair{2.0, 4.0}, std::pair{5.0, 1.0}}) {
    Graph graph;
    Builder b(&graph);
    ValueId v = b.Scalar(value);
    mean.UpdateState(b, v, b.Scalar(weight));
    graph.set_outputs({v});
    ASSERT_TRUE(testing::CompileAndRun(graph, {}, store.values(), "reference").ok());
  }
  EXPECT_NEAR(mean.Result(store), 2.5999999046325684, 1e-7);
  mean.Reset(&store);
  EXPECT_EQ(mean.Result(store), 0.0);
  EXPECT_TRUE(store.Find("loss/total").has_value());
}

TEST(MetricFromConfigTest, RejectsUnknown) {
  auto metric = MetricFromConfig("f1_of_doom", {kBatch}, {kBatch, 3});
  ASSERT_FALSE(metric.ok());
  EXPECT_NE(metric.status().message().find("f1_of_doom"), std::string::npos);
}

}  // namespace
}  // namespace fornax
