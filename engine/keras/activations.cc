#include "engine/keras/activations.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/keras/config_util.h"

namespace fornax {
namespace {

using Fn = std::function<ValueId(Builder&, ValueId)>;

ValueId S(Builder& b, double v) { return b.Scalar(v); }

ValueId Clip(Builder& b, ValueId x, double lo, double hi) {
  return b.Maximum(b.Minimum(x, S(b, hi)), S(b, lo));
}

ValueId Relu6(Builder& b, ValueId x) { return b.Minimum(b.Relu(x), S(b, 6.0)); }

// alpha * (exp(min(x, 0) / divisor) - 1): the negative branch of elu
// (divisor 1) and celu (divisor alpha).
ValueId ExpBranch(Builder& b, ValueId x, double alpha, double divisor) {
  ValueId neg = b.Minimum(x, S(b, 0.0));
  if (divisor != 1.0) neg = b.Div(neg, S(b, divisor));
  return b.Mul(S(b, alpha), b.Sub(b.Exp(neg), S(b, 1.0)));
}

ValueId Elu(Builder& b, ValueId x, double alpha) {
  return b.Where(b.Binary(Op::kGreater, x, S(b, 0.0)), x, ExpBranch(b, x, alpha, 1.0));
}

ValueId Glu(Builder& b, ValueId x) {
  const int axis = b.rank(x) - 1;
  const int64_t n = b.shape(x).dim(axis);
  if (n % 2 != 0) {
    b.Fail(absl::InvalidArgumentError(
        absl::StrCat("glu needs an even size on the last axis to split in halves, received shape ",
                     b.shape(x).ToString())));
    return kNoValue;
  }
  ValueId first = b.Slice(x, axis, 0, n / 2);
  ValueId second = b.Slice(x, axis, n / 2, n);
  return b.Mul(first, b.Sigmoid(second));
}

// Keras's sparsemax, written without a sort. Keras sorts descending, takes
// cumulative sums c_r, marks the support z_(r) - (c_r - 1) / r > 0 and uses
// tau = (sum of c_r over the support - 1) / k. (Every Keras backend sums the
// cumulative sums there rather than taking c_k, so outputs need not sum to 1;
// Fornax matches Keras.) Element i sits at sorted position
//   r_i = #{j: x_j > x_i} + #{j <= i: x_j == x_i}
// (a stable sort), where the cumulative sum is
//   c_i = sum_{j: x_j > x_i} x_j + #{j <= i: x_j == x_i} * x_i.
ValueId Sparsemax(Builder& b, ValueId x) {
  const Shape shape = b.shape(x);
  const int64_t n = shape.dim(shape.rank() - 1);
  std::vector<int64_t> column = shape.dims();
  column.push_back(1);
  std::vector<int64_t> row = shape.dims();
  row.insert(row.end() - 1, 1);
  std::vector<float> lower(static_cast<size_t>(n * n), 0.0f);  // [i, j] = j <= i
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j <= i; ++j) lower[static_cast<size_t>(i * n + j)] = 1.0f;
  }
  ValueId xi = b.Reshape(x, Shape(column));                                   // (..., n, 1)
  ValueId xj = b.Reshape(x, Shape(row));                                      // (..., 1, n)
  ValueId greater = b.Cast(b.Binary(Op::kGreater, xj, xi), DType::kFloat32);  // [.., i, j]
  ValueId tied_before = b.Mul(b.Cast(b.Binary(Op::kEqual, xj, xi), DType::kFloat32),
                              b.Constant(Tensor::FromFloats(Shape{n, n}, lower)));
  ValueId ties = b.Sum(tied_before, {-1});
  ValueId rank = b.Add(b.Sum(greater, {-1}), ties);  // (..., n)
  ValueId cumsum = b.Add(b.Sum(b.Mul(greater, xj), {-1}), b.Mul(ties, x));
  ValueId support =
      b.Cast(b.Binary(Op::kGreater, b.Sub(x, b.Div(b.Sub(cumsum, S(b, 1.0)), rank)), S(b, 0.0)),
             DType::kFloat32);
  ValueId k = b.Sum(support, {-1}, /*keepdims=*/true);
  ValueId tau = b.Div(b.Sub(b.Sum(b.Mul(support, cumsum), {-1}, true), S(b, 1.0)), k);
  return b.Relu(b.Sub(x, tau));
}

const std::map<std::string, Fn>& Registry() {
  static const auto* registry = new std::map<std::string, Fn>{
      {"linear", [](Builder&, ValueId x) { return x; }},
      {"relu", [](Builder& b, ValueId x) { return b.Relu(x); }},
      {"relu6", Relu6},
      {"leaky_relu", [](Builder& b, ValueId x) { return LeakyRelu(b, x, 0.2); }},
      {"elu", [](Builder& b, ValueId x) { return Elu(b, x, 1.0); }},
      {"selu",
       [](Builder& b, ValueId x) {
         constexpr double kAlpha = 1.6732632423543772848170429916717;
         constexpr double kScale = 1.0507009873554804934193349852946;
         return b.Mul(S(b, kScale), Elu(b, x, kAlpha));
       }},
      {"celu", [](Builder& b, ValueId x) { return b.Add(b.Relu(x), ExpBranch(b, x, 1.0, 1.0)); }},
      {"gelu",
       [](Builder& b, ValueId x) {  // approximate=False: x * Phi(x)
         ValueId cdf = b.Add(S(b, 1.0), b.Unary(Op::kErf, b.Mul(x, S(b, M_SQRT1_2))));
         return b.Mul(b.Mul(S(b, 0.5), x), cdf);
       }},
      {"silu", [](Builder& b, ValueId x) { return b.Mul(x, b.Sigmoid(x)); }},
      {"sigmoid", [](Builder& b, ValueId x) { return b.Sigmoid(x); }},
      {"hard_sigmoid",
       [](Builder& b, ValueId x) { return b.Div(Relu6(b, b.Add(x, S(b, 3.0))), S(b, 6.0)); }},
      {"hard_silu",
       [](Builder& b, ValueId x) {
         return b.Mul(x, b.Div(Relu6(b, b.Add(x, S(b, 3.0))), S(b, 6.0)));
       }},
      {"tanh", [](Builder& b, ValueId x) { return b.Tanh(x); }},
      {"softplus", [](Builder& b, ValueId x) { return b.Softplus(x); }},
      {"softsign", [](Builder& b, ValueId x) { return b.Div(x, b.Add(b.Abs(x), S(b, 1.0))); }},
      {"exponential", [](Builder& b, ValueId x) { return b.Exp(x); }},
      {"softmax", [](Builder& b, ValueId x) { return b.Softmax(x, -1); }},
      {"log_softmax", [](Builder& b, ValueId x) { return b.LogSoftmax(x, -1); }},
      {"mish", [](Builder& b, ValueId x) { return b.Mul(x, b.Tanh(b.Softplus(x))); }},
      {"glu", Glu},
      {"squareplus",
       [](Builder& b, ValueId x) {  // b=4
         return b.Mul(S(b, 0.5), b.Add(x, b.Sqrt(b.Add(b.Square(x), S(b, 4.0)))));
       }},
      {"sparse_plus",
       [](Builder& b, ValueId x) {
         ValueId quad = b.Mul(S(b, 0.25), b.Square(b.Add(x, S(b, 1.0))));
         ValueId upper = b.Where(b.Binary(Op::kGreaterEqual, x, S(b, 1.0)), x, quad);
         return b.Where(b.Binary(Op::kLessEqual, x, S(b, -1.0)), S(b, 0.0), upper);
       }},
      {"hard_tanh", [](Builder& b, ValueId x) { return Clip(b, x, -1.0, 1.0); }},
      {"tanh_shrink", [](Builder& b, ValueId x) { return b.Sub(x, b.Tanh(x)); }},
      {"log_sigmoid", [](Builder& b, ValueId x) { return b.Neg(b.Softplus(b.Neg(x))); }},
      {"sparse_sigmoid",
       [](Builder& b, ValueId x) {
         return Clip(b, b.Mul(S(b, 0.5), b.Add(x, S(b, 1.0))), 0.0, 1.0);
       }},
      {"soft_shrink",
       [](Builder& b, ValueId x) {  // threshold=0.5
         ValueId inner =
             b.Where(b.Binary(Op::kLess, x, S(b, -0.5)), b.Add(x, S(b, 0.5)), S(b, 0.0));
         return b.Where(b.Binary(Op::kGreater, x, S(b, 0.5)), b.Sub(x, S(b, 0.5)), inner);
       }},
      {"hard_shrink",
       [](Builder& b, ValueId x) {  // threshold=0.5
         return b.Where(b.Binary(Op::kGreater, b.Abs(x), S(b, 0.5)), x, S(b, 0.0));
       }},
      {"sparsemax", Sparsemax},
  };
  return *registry;
}

// Keras's aliases, resolved before the registry.
std::string Canonical(const std::string& name) {
  if (name == "swish") return "silu";
  if (name == "hard_swish") return "hard_silu";
  return name;
}

}  // namespace

ValueId LeakyRelu(Builder& b, ValueId x, double negative_slope) {
  return b.Where(b.Binary(Op::kGreaterEqual, x, S(b, 0.0)), x, b.Mul(S(b, negative_slope), x));
}

ValueId KerasRelu(Builder& b, ValueId x, double negative_slope, double max_value,
                  double threshold) {
  // Follows keras.activations.ReLU.static_call term by term.
  if (negative_slope != 0.0 && max_value < 0 && threshold == 0.0) {
    return LeakyRelu(b, x, negative_slope);
  }
  ValueId negative_part = kNoValue;
  if (negative_slope != 0.0) {
    negative_part = threshold != 0.0 ? b.Relu(b.Add(b.Neg(x), S(b, threshold))) : b.Relu(b.Neg(x));
  }
  ValueId y;
  if (threshold != 0.0) {
    y = b.Where(b.Binary(Op::kGreater, x, S(b, threshold)), x, S(b, 0.0));
  } else {
    y = b.Relu(x);
  }
  if (max_value >= 0) y = Clip(b, y, 0.0, max_value);
  if (negative_slope != 0.0) y = b.Sub(y, b.Mul(S(b, negative_slope), negative_part));
  return y;
}

std::vector<std::string> ActivationNames() {
  std::vector<std::string> names;
  for (const auto& [name, fn] : Registry()) names.push_back(name);
  names.push_back("swish");
  names.push_back("hard_swish");
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<Activation> GetActivation(const nlohmann::json& spec, const std::string& context) {
  if (spec.is_null()) return Activation{"linear", Registry().at("linear")};
  std::string name;
  if (spec.is_string()) {
    name = spec.get<std::string>();
  } else if (spec.is_object() && spec.contains("config") && spec["config"].is_string()) {
    // {"module": "keras.activations", "class_name": "function", "config": "relu"}
    name = spec["config"].get<std::string>();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        context, ": could not interpret activation function identifier: ", PythonRepr(spec)));
  }
  if (name == "threshold") {
    return absl::InvalidArgumentError(
        absl::StrCat(context,
                     ": activation 'threshold' needs `threshold` and `default_value` arguments, "
                     "which a string identifier cannot give"));
  }
  auto it = Registry().find(Canonical(name));
  if (it == Registry().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": unknown activation '", name,
                     "'; supported: ", absl::StrJoin(ActivationNames(), ", ")));
  }
  return Activation{Canonical(name), it->second};
}

}  // namespace fornax
