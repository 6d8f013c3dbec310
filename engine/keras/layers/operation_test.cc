// Keras operations on symbolic tensors (operation.h) against real Keras 3:
// tests/testdata/archives/ops_zoo.json (make_archives.py) holds a Functional
// model whose 60+ outputs are keras.ops calls on float32, bool and int32
// inputs, Keras's outputs and, per float output, jax.grad's input gradients.
#include "engine/keras/layers/operation.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "engine/autodiff/autodiff.h"
#include "engine/data/test_files.h"
#include "engine/keras/layers/layer_test_util.h"
#include "engine/keras/models/model.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const json& Zoo() {
  static const json* zoo = [] {
    return new json(
        testing::LoadJson(testing::SourceDir() + "/tests/testdata/archives/ops_zoo.json"));
  }();
  return *zoo;
}

struct Fixture {
  std::unique_ptr<Model> model;
  VariableStore store;
  Graph graph;
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  std::vector<Tensor> input_values;
};

// Parses the zoo and emits its forward pass on a fresh graph.
void BuildZoo(Fixture* f) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromJson(Zoo()["model"], "ops_zoo");
  ASSERT_TRUE(model.ok()) << model.status();
  f->model = *std::move(model);
  ASSERT_TRUE(f->model->CreateVariables(&f->store, 1).ok());
  Builder b(&f->graph);
  for (size_t i = 0; i < f->model->inputs().size(); ++i) {
    const TensorSpec& spec = f->model->inputs()[i];
    const json& given = Zoo()["inputs"][spec.name];
    ASSERT_EQ(DTypeName(spec.dtype), given["dtype"].get<std::string>()) << spec.name;
    const Shape shape(given["shape"].get<std::vector<int64_t>>());
    f->input_values.push_back(testing::MakeTensor(spec.dtype, shape, given["values"]));
    f->inputs.push_back(b.Input(static_cast<int64_t>(i), spec.dtype, spec.shape, spec.name));
  }
  std::vector<ValueId> losses;
  absl::Status s = f->model->Call(b, f->inputs, /*training=*/false, &f->outputs, &losses);
  ASSERT_TRUE(s.ok()) << s;
}

TEST(OperationTest, ZooKeepsInputDTypes) {
  Fixture f;
  BuildZoo(&f);
  std::map<std::string, DType> dtypes;
  for (const TensorSpec& in : f.model->inputs()) dtypes[in.name] = in.dtype;
  EXPECT_EQ(dtypes["m"], DType::kBool);
  EXPECT_EQ(dtypes["i"], DType::kInt32);
  EXPECT_EQ(dtypes["f"], DType::kFloat32);
}

class OperationBackendTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OperationBackendTest, ZooMatchesKeras) {
  Fixture f;
  BuildZoo(&f);
  f.graph.set_outputs(f.outputs);
  std::vector<Tensor> variables;
  absl::StatusOr<std::vector<Tensor>> got =
      testing::RunGraph(f.graph, GetParam(), 3, f.input_values, variables);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), Zoo()["outputs"].size());
  int checked = 0;
  for (size_t k = 0; k < f.model->outputs().size(); ++k) {
    const std::string& name = f.model->outputs()[k].name;
    const json& want = Zoo()["outputs"][name];
    const Tensor& y = (*got)[k];
    EXPECT_EQ(DTypeName(y.dtype()), want["dtype"].get<std::string>()) << name;
    ASSERT_EQ(y.shape().dims(), want["shape"].get<std::vector<int64_t>>()) << name;
    for (int64_t i = 0; i < y.num_elements(); ++i) {
      const double w = want["values"][static_cast<size_t>(i)].get<double>();
      EXPECT_NEAR(y.GetAsDouble(i), w, 1e-5 * (1 + std::fabs(w))) << name << "[" << i << "]";
    }
    ++checked;
  }
  EXPECT_GE(checked, 60);
}

INSTANTIATE_TEST_SUITE_P(Backends, OperationBackendTest, ::testing::Values("reference", "cpu"));

// Fornax's autodiff through every float-valued operation equals jax.grad.
TEST(OperationTest, ZooGradientsMatchKeras) {
  Fixture f;
  BuildZoo(&f);
  Builder b(&f.graph);
  std::vector<ValueId> wrt;  // the float inputs f and g
  std::vector<std::string> wrt_names;
  for (size_t i = 0; i < f.inputs.size(); ++i) {
    if (IsFloating(f.model->inputs()[i].dtype)) {
      wrt.push_back(f.inputs[i]);
      wrt_names.push_back(f.model->inputs()[i].name);
    }
  }
  ASSERT_EQ(wrt.size(), 2u);
  std::vector<ValueId> results;
  std::vector<std::string> names;
  for (size_t k = 0; k < f.model->outputs().size(); ++k) {
    const std::string& name = f.model->outputs()[k].name;
    if (!Zoo()["gradients"].contains(name)) continue;
    ValueId shifted = b.Add(f.outputs[k], b.Scalar(0.3));
    ValueId loss = b.Mul(b.SumAll(b.Square(shifted)), b.Scalar(0.5));
    absl::StatusOr<std::vector<ValueId>> grads = Gradients(b, loss, wrt);
    ASSERT_TRUE(grads.ok()) << name << ": " << grads.status();
    for (ValueId g : *grads) {
      // An input the output does not depend on has no gradient value.
      results.push_back(g == kNoValue ? b.Fill(0, DType::kFloat32, b.shape(wrt[0])) : g);
    }
    names.push_back(name);
  }
  ASSERT_TRUE(b.ok()) << b.status();
  f.graph.set_outputs(results);
  std::vector<Tensor> variables;
  absl::StatusOr<std::vector<Tensor>> got =
      testing::RunGraph(f.graph, "reference", 3, f.input_values, variables);
  ASSERT_TRUE(got.ok()) << got.status();
  for (size_t n = 0; n < names.size(); ++n) {
    for (size_t w = 0; w < wrt.size(); ++w) {
      const json& want = Zoo()["gradients"][names[n]][wrt_names[w]];
      const Tensor& g = (*got)[n * wrt.size() + w];
      ASSERT_EQ(g.num_elements(), static_cast<int64_t>(want.size())) << names[n];
      for (int64_t i = 0; i < g.num_elements(); ++i) {
        const double e = want[static_cast<size_t>(i)].get<double>();
        EXPECT_NEAR(g.GetAsDouble(i), e, 1e-4 * (1 + std::fabs(e)))
            << "d " << names[n] << " / d " << wrt_names[w] << "[" << i << "]";
      }
    }
  }
  EXPECT_GE(names.size(), 40u);
}

// A one-op Functional model around `op` (a "layers" entry) on input x.
json OneOpModel(const json& op, const std::string& output) {
  json input = {{"module", "keras.layers"},
                {"class_name", "InputLayer"},
                {"config", {{"batch_shape", {nullptr, 4}}, {"dtype", "float32"}, {"name", "x"}}},
                {"name", "x"},
                {"inbound_nodes", json::array()}};
  return {{"class_name", "Functional"},
          {"config",
           {{"name", "m"},
            {"layers", {input, op}},
            {"input_layers", {"x", 0, 0}},
            {"output_layers", {output, 0, 0}}}}};
}

json KerasTensor(const std::string& layer) {
  return {{"class_name", "__keras_tensor__"},
          {"config",
           {{"shape", {nullptr, 4}}, {"dtype", "float32"}, {"keras_history", {layer, 0, 0}}}}};
}

json Op(const std::string& module, const std::string& class_name, json config, json args,
        json kwargs = json::object()) {
  return {{"module", module},
          {"class_name", class_name},
          {"config", std::move(config)},
          {"registered_name", class_name},
          {"name", "op"},
          {"inbound_nodes", {{{"args", std::move(args)}, {"kwargs", std::move(kwargs)}}}}};
}

std::string ParseError(const json& model) {
  absl::StatusOr<std::unique_ptr<Model>> parsed = Model::FromJson(model, "model.json");
  return parsed.ok() ? "parsed" : std::string(parsed.status().message());
}

TEST(OperationTest, UnknownOperationNamesLayerAndOperation) {
  const std::string message = ParseError(
      OneOpModel(Op("keras.src.ops.math", "Erfinv", {{"name", "op"}}, {KerasTensor("x")}), "op"));
  EXPECT_THAT(message, HasSubstr("layer 'op' (operation keras.src.ops.math.Erfinv)"));
  EXPECT_THAT(message, HasSubstr("unsupported Keras operation 'Erfinv'"));
  EXPECT_THAT(message, HasSubstr("Where"));  // lists what is supported
}

TEST(OperationTest, RefusesWhatItCannotBind) {
  EXPECT_THAT(
      ParseError(OneOpModel(
          Op("keras.src.ops.numpy", "Add", {{"name", "op"}}, {KerasTensor("x"), "text"}), "op")),
      HasSubstr("argument 1 is 'text'"));
  EXPECT_THAT(ParseError(OneOpModel(Op("keras.src.ops.numpy", "Add", {{"name", "op"}},
                                       {KerasTensor("x")}, {{"x2", 1.0}}),
                                    "op")),
              HasSubstr("keyword arguments in the call are not supported"));
  EXPECT_THAT(ParseError(OneOpModel(
                  Op("keras.src.ops.numpy", "Where", {{"name", "op"}}, {KerasTensor("x")}), "op")),
              HasSubstr("expected 3 positional arguments, received 1"));
  EXPECT_THAT(ParseError(OneOpModel(
                  Op("keras.src.ops.core", "Cast", {{"name", "op"}}, {KerasTensor("x")}), "op")),
              HasSubstr("argument `dtype`"));
  EXPECT_THAT(
      ParseError(OneOpModel(Op("keras.src.ops.numpy", "Max",
                               {{"name", "op"}, {"axis", 1}, {"initial", 2.0}}, {KerasTensor("x")}),
                            "op")),
      HasSubstr("argument `initial`"));
  EXPECT_THAT(ParseError(OneOpModel(Op("keras.src.ops.numpy", "ExpandDims",
                                       {{"name", "op"}, {"axis", 0}}, {KerasTensor("x")}),
                                    "op")),
              HasSubstr("layer 'op' (ExpandDims): expand_dims at axis 0 would move the batch"));
}

// The ops' own class names (Concatenate, Add) must not be taken for the
// layers of the same name: ops have no build_config and bind constants.
TEST(OperationTest, OperationIsNotTheLayerOfTheSameName) {
  json model =
      OneOpModel(Op("keras.src.ops.numpy", "Add", {{"name", "op"}}, {KerasTensor("x"), 2.5}), "op");
  absl::StatusOr<std::unique_ptr<Model>> parsed = Model::FromJson(model, "model.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)->CountParams(), 0);
  EXPECT_EQ((*parsed)->outputs()[0].shape, (Shape{kBatch, 4}));
  EXPECT_TRUE(IsKerasOperation(model["config"]["layers"][1]));
  EXPECT_FALSE(IsKerasOperation(model["config"]["layers"][0]));
}

}  // namespace
}  // namespace fornax
