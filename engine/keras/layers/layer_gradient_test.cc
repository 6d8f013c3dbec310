// Layers train: for every layer case, the gradient autodiff emits for
// loss = sum((y + 0.3)^2) / 2 with respect to each float input and weight
// matches central finite differences (reference backend, float32).
#include <cmath>
#include <string>
#include <vector>

#include "engine/autodiff/autodiff.h"
#include "engine/keras/layers/layer_test_util.h"
#include "engine/keras/layers/registry.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  for (const json& c : testing::LayerCases()) {
    // The kinked activations sit on a kink with the test's evenly spaced inputs.
    const std::string name = c["name"].get<std::string>();
    if (name != "activation_sparsemax" && name != "activation_exponential") names.push_back(name);
  }
  return names;
}

class LayerGradientTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LayerGradientTest, MatchesFiniteDifferences) {
  const json* found = nullptr;
  for (const json& c : testing::LayerCases()) {
    if (c["name"] == GetParam()) found = &c;
  }
  ASSERT_NE(found, nullptr);
  const json& c = *found;
  absl::StatusOr<std::unique_ptr<Layer>> layer = CreateLayer(c["layer"]);
  ASSERT_TRUE(layer.ok()) << layer.status();
  std::vector<TensorSpec> specs;
  std::vector<Tensor> inputs;
  const int64_t batch = c["inputs"][0]["shape"][0].get<int64_t>();
  for (const json& in : c["inputs"]) {
    std::vector<int64_t> dims = in["shape"].get<std::vector<int64_t>>();
    const DType dtype = *ParseDType(in["dtype"].get<std::string>());
    inputs.push_back(testing::MakeTensor(dtype, Shape(dims), in["values"]));
    dims[0] = kBatch;
    specs.push_back(TensorSpec{"x", dtype, Shape(dims)});
  }
  ASSERT_TRUE((*layer)->Build(specs).ok());
  std::vector<Tensor> variables;
  for (size_t i = 0; i < (*layer)->weights().size(); ++i) {
    WeightSpec& w = (*layer)->weights()[i];
    w.index = static_cast<int64_t>(i);
    variables.push_back(testing::MakeTensor(DType::kFloat32, w.shape, c["weights"][i]["values"]));
  }

  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> xs;
  for (size_t i = 0; i < specs.size(); ++i) {
    xs.push_back(b.Input(static_cast<int64_t>(i), specs[i].dtype, specs[i].shape));
  }
  CallContext ctx;
  ctx.training = c["training"].get<bool>();
  absl::StatusOr<std::vector<ValueId>> ys = (*layer)->Apply(b, xs, ctx);
  ASSERT_TRUE(ys.ok()) << ys.status();
  ValueId shifted = b.Add((*ys)[0], b.Scalar(0.3));
  ValueId loss = b.Mul(b.SumAll(b.Square(shifted)), b.Scalar(0.5));

  // Differentiate with respect to float inputs and to every weight read.
  struct Target {
    bool is_input;
    size_t slot;
    ValueId value;
  };
  std::vector<Target> targets;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (IsFloating(specs[i].dtype)) targets.push_back({true, i, xs[i]});
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    for (ValueId v = 0; v < graph.size(); ++v) {
      const Node& n = graph.node(v);
      if (n.op == Op::kVariable && n.attrs.index == static_cast<int64_t>(i) &&
          (*layer)->weights()[i].trainable) {
        targets.push_back({false, i, v});
        break;
      }
    }
  }
  std::vector<ValueId> wrt;
  for (const Target& t : targets) wrt.push_back(t.value);
  absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, loss, wrt);
  ASSERT_TRUE(grads.ok()) << grads.status();
  std::vector<ValueId> outs = {loss};
  outs.insert(outs.end(), grads->begin(), grads->end());
  graph.set_outputs(outs);
  CompileOptions options;
  options.backend = "reference";
  options.max_batch = batch;
  absl::StatusOr<std::unique_ptr<Executable>> exe = Compile(graph, options);
  ASSERT_TRUE(exe.ok()) << exe.status();

  // The moving statistics change on each training run; restore them so every
  // run sees the same state.
  const std::vector<Tensor> initial = [&] {
    std::vector<Tensor> copy;
    for (const Tensor& v : variables) copy.push_back(v.Clone());
    return copy;
  }();
  auto run = [&](std::vector<Tensor>* results) {
    for (size_t i = 0; i < variables.size(); ++i) variables[i] = initial[i].Clone();
    return (*exe)->Run(inputs, variables, RunOptions{}, results);
  };
  std::vector<Tensor> base;
  ASSERT_TRUE(run(&base).ok());
  int64_t compared = 0;
  for (size_t t = 0; t < targets.size(); ++t) {
    Tensor& param = targets[t].is_input ? inputs[targets[t].slot] : variables[targets[t].slot];
    Tensor saved = targets[t].is_input ? param.Clone() : initial[targets[t].slot].Clone();
    const Tensor& analytic = base[t + 1];
    for (int64_t i = 0; i < param.num_elements(); ++i) {
      const double eps = 1e-2;
      double loss_at[2];
      for (int side = 0; side < 2; ++side) {
        Tensor perturbed = saved.Clone();
        perturbed.SetFromDouble(i, saved.GetAsDouble(i) + (side == 0 ? eps : -eps));
        if (targets[t].is_input) {
          param = perturbed;
        } else {
          const_cast<Tensor&>(initial[targets[t].slot]) = perturbed;
        }
        std::vector<Tensor> results;
        ASSERT_TRUE(run(&results).ok());
        loss_at[side] = results[0].GetAsDouble(0);
      }
      if (targets[t].is_input) {
        param = saved.Clone();
      } else {
        const_cast<Tensor&>(initial[targets[t].slot]) = saved.Clone();
      }
      const double numeric = (loss_at[0] - loss_at[1]) / (2 * eps);
      const double got = analytic.GetAsDouble(i);
      ASSERT_NEAR(got, numeric, 2e-2 + 2e-2 * std::fabs(numeric))
          << (targets[t].is_input ? "input " : "weight ") << targets[t].slot << " element " << i;
      ++compared;
    }
  }
  EXPECT_GT(compared, 0);
}

INSTANTIATE_TEST_SUITE_P(Keras, LayerGradientTest, ::testing::ValuesIn(CaseNames()));

}  // namespace
}  // namespace fornax
