#include "engine/keras/initializers.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"
#include "engine/keras/config_util.h"

namespace fornax {

uint64_t MixSeed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double UniformAt(uint64_t seed, uint64_t i) {
  // 53 random bits -> a double in [0, 1).
  return static_cast<double>(MixSeed(seed, i) >> 11) * 0x1.0p-53;
}

double NormalAt(uint64_t seed, uint64_t i) {
  const double u1 = 1.0 - UniformAt(seed, 2 * i);  // (0, 1]: log is finite
  const double u2 = UniformAt(seed, 2 * i + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

namespace {

// Keras's truncated normal: redraw until within two standard deviations.
double TruncatedNormalAt(uint64_t seed, uint64_t i) {
  for (uint64_t attempt = 0;; ++attempt) {
    const double z = NormalAt(MixSeed(seed, attempt), i);
    if (std::fabs(z) <= 2.0) return z;
  }
}

enum class Kind {
  kZeros,
  kOnes,
  kConstant,
  kIdentity,
  kUniform,
  kNormal,
  kTruncatedNormal,
  kVarianceScaling,
  kOrthogonal,
};

struct Params {
  Kind kind = Kind::kZeros;
  std::string class_name;
  double a = 0.0, b = 0.0;  // minval/maxval, mean/stddev, value, gain
  double scale = 1.0;
  std::string mode = "fan_in";
  std::string distribution = "truncated_normal";
  std::optional<std::vector<int64_t>> input_axes, output_axes;
  std::optional<uint64_t> seed;
};

absl::StatusOr<std::pair<double, double>> ComputeFans(const Params& p, const Shape& shape) {
  const auto& d = shape.dims();
  const int64_t rank = shape.rank();
  if (p.input_axes && p.output_axes) {
    double fan_in = 1, fan_out = 1;
    for (int64_t a : *p.input_axes)
      fan_in *= static_cast<double>(d[static_cast<size_t>(a < 0 ? a + rank : a)]);
    for (int64_t a : *p.output_axes)
      fan_out *= static_cast<double>(d[static_cast<size_t>(a < 0 ? a + rank : a)]);
    return std::make_pair(fan_in, fan_out);
  }
  if (rank == 0) return std::make_pair(1.0, 1.0);
  if (rank == 1) return std::make_pair(double(d[0]), double(d[0]));
  if (rank == 2) return std::make_pair(double(d[0]), double(d[1]));
  double receptive = 1;
  for (int64_t i = 0; i < rank - 2; ++i)
    receptive *= static_cast<double>(d[static_cast<size_t>(i)]);
  return std::make_pair(double(d[static_cast<size_t>(rank - 2)]) * receptive,
                        double(d[static_cast<size_t>(rank - 1)]) * receptive);
}

class KerasInitializer final : public Initializer {
 public:
  explicit KerasInitializer(Params p) : p_(std::move(p)) {}
  std::string class_name() const override { return p_.class_name; }

  absl::StatusOr<Tensor> Create(const Shape& shape, DType dtype,
                                uint64_t fallback_seed) const override {
    Tensor t(dtype, shape);
    const int64_t n = t.num_elements();
    const uint64_t seed = p_.seed ? MixSeed(*p_.seed, 0x4B657261735EEDULL) : fallback_seed;
    switch (p_.kind) {
      case Kind::kZeros:
        break;
      case Kind::kOnes:
      case Kind::kConstant: {
        const double v = p_.kind == Kind::kOnes ? 1.0 : p_.a;
        for (int64_t i = 0; i < n; ++i) t.SetFromDouble(i, v);
        break;
      }
      case Kind::kIdentity: {
        if (shape.rank() != 2) {
          return absl::InvalidArgumentError(
              absl::StrCat("Identity initializer needs a 2-D shape; received ", shape.ToString()));
        }
        for (int64_t i = 0; i < std::min(shape[0], shape[1]); ++i) {
          t.SetFromDouble(i * shape[1] + i, p_.a);
        }
        break;
      }
      case Kind::kUniform:
        for (int64_t i = 0; i < n; ++i)
          t.SetFromDouble(i, p_.a + (p_.b - p_.a) * UniformAt(seed, i));
        break;
      case Kind::kNormal:
        for (int64_t i = 0; i < n; ++i) t.SetFromDouble(i, p_.a + p_.b * NormalAt(seed, i));
        break;
      case Kind::kTruncatedNormal:
        for (int64_t i = 0; i < n; ++i)
          t.SetFromDouble(i, p_.a + p_.b * TruncatedNormalAt(seed, i));
        break;
      case Kind::kVarianceScaling:
        FORNAX_RETURN_IF_ERROR(FillVarianceScaling(shape, seed, &t));
        break;
      case Kind::kOrthogonal:
        FORNAX_RETURN_IF_ERROR(FillOrthogonal(shape, seed, &t));
        break;
    }
    return t;
  }

 private:
  absl::Status FillVarianceScaling(const Shape& shape, uint64_t seed, Tensor* t) const {
    FORNAX_ASSIGN_OR_RETURN(auto fans, ComputeFans(p_, shape));
    double scale = p_.scale;
    if (p_.mode == "fan_in") {
      scale /= std::max(1.0, fans.first);
    } else if (p_.mode == "fan_out") {
      scale /= std::max(1.0, fans.second);
    } else {
      scale /= std::max(1.0, (fans.first + fans.second) / 2.0);
    }
    const int64_t n = t->num_elements();
    if (p_.distribution == "truncated_normal") {
      const double stddev = std::sqrt(scale) / 0.87962566103423978;
      for (int64_t i = 0; i < n; ++i) t->SetFromDouble(i, stddev * TruncatedNormalAt(seed, i));
    } else if (p_.distribution == "untruncated_normal") {
      const double stddev = std::sqrt(scale);
      for (int64_t i = 0; i < n; ++i) t->SetFromDouble(i, stddev * NormalAt(seed, i));
    } else {
      const double limit = std::sqrt(3.0 * scale);
      for (int64_t i = 0; i < n; ++i) t->SetFromDouble(i, limit * (2.0 * UniformAt(seed, i) - 1.0));
    }
    return absl::OkStatus();
  }

  // Keras: QR of a (max, min) normal matrix with Q's columns sign-fixed so R
  // has a positive diagonal; modified Gram-Schmidt gives exactly that Q.
  absl::Status FillOrthogonal(const Shape& shape, uint64_t seed, Tensor* t) const {
    if (shape.rank() < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Orthogonal initializer needs a shape of rank >= 2; received ", shape.ToString()));
    }
    const int64_t cols = shape[shape.rank() - 1];
    const int64_t rows = shape.NumElements() / std::max<int64_t>(cols, 1);
    const int64_t m = std::max(rows, cols), k = std::min(rows, cols);
    std::vector<double> q(static_cast<size_t>(m * k));  // column-major: column j at j*m
    for (int64_t i = 0; i < m * k; ++i)
      q[static_cast<size_t>(i)] = NormalAt(seed, static_cast<uint64_t>(i));
    for (int64_t j = 0; j < k; ++j) {
      double* cj = &q[static_cast<size_t>(j * m)];
      for (int64_t p = 0; p < j; ++p) {
        const double* cp = &q[static_cast<size_t>(p * m)];
        double dot = 0;
        for (int64_t r = 0; r < m; ++r) dot += cp[r] * cj[r];
        for (int64_t r = 0; r < m; ++r) cj[r] -= dot * cp[r];
      }
      double norm = 0;
      for (int64_t r = 0; r < m; ++r) norm += cj[r] * cj[r];
      norm = std::sqrt(norm);
      for (int64_t r = 0; r < m; ++r) cj[r] /= norm > 0 ? norm : 1.0;
    }
    // Q is (m, k); the result is Q when rows >= cols, else Q^T, as (rows, cols).
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const double v =
            rows >= cols ? q[static_cast<size_t>(c * m + r)] : q[static_cast<size_t>(r * m + c)];
        t->SetFromDouble(r * cols + c, p_.a * v);
      }
    }
    return absl::OkStatus();
  }

  Params p_;
};

std::string SnakeToCamel(const std::string& s) {
  std::string out;
  bool upper = true;
  for (char c : s) {
    if (c == '_') {
      upper = true;
    } else {
      out.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
      upper = false;
    }
  }
  return out;
}

const std::vector<std::string>& SupportedNames() {
  static const auto* names =
      new std::vector<std::string>{"Constant",        "GlorotNormal",    "GlorotUniform",
                                   "HeNormal",        "HeUniform",       "Identity",
                                   "LecunNormal",     "LecunUniform",    "Ones",
                                   "Orthogonal",      "RandomNormal",    "RandomUniform",
                                   "TruncatedNormal", "VarianceScaling", "Zeros"};
  return *names;
}

absl::StatusOr<Params> ParseParams(const std::string& class_name, const ConfigView& cfg) {
  Params p;
  p.class_name = class_name;
  if (const nlohmann::json* seed = cfg.Find("seed")) {
    if (!seed->is_number_integer()) return cfg.ArgumentError("seed", "an integer or None");
    p.seed = static_cast<uint64_t>(seed->get<int64_t>());
  }
  auto scaling = [&](double scale, const char* mode, const char* distribution) -> absl::Status {
    p.kind = Kind::kVarianceScaling;
    p.scale = scale;
    p.mode = mode;
    p.distribution = distribution;
    if (cfg.Has("input_axes") || cfg.Has("output_axes")) {
      FORNAX_ASSIGN_OR_RETURN(p.input_axes, cfg.IntOrInts("input_axes"));
      FORNAX_ASSIGN_OR_RETURN(p.output_axes, cfg.IntOrInts("output_axes"));
    }
    return absl::OkStatus();
  };
  if (class_name == "Zeros") {
    p.kind = Kind::kZeros;
  } else if (class_name == "Ones") {
    p.kind = Kind::kOnes;
  } else if (class_name == "Constant") {
    p.kind = Kind::kConstant;
    FORNAX_ASSIGN_OR_RETURN(p.a, cfg.Float("value", 0.0));
  } else if (class_name == "Identity") {
    p.kind = Kind::kIdentity;
    FORNAX_ASSIGN_OR_RETURN(p.a, cfg.Float("gain", 1.0));
  } else if (class_name == "Orthogonal") {
    p.kind = Kind::kOrthogonal;
    FORNAX_ASSIGN_OR_RETURN(p.a, cfg.Float("gain", 1.0));
  } else if (class_name == "RandomUniform") {
    p.kind = Kind::kUniform;
    FORNAX_ASSIGN_OR_RETURN(p.a, cfg.Float("minval", -0.05));
    FORNAX_ASSIGN_OR_RETURN(p.b, cfg.Float("maxval", 0.05));
  } else if (class_name == "RandomNormal" || class_name == "TruncatedNormal") {
    p.kind = class_name == "RandomNormal" ? Kind::kNormal : Kind::kTruncatedNormal;
    FORNAX_ASSIGN_OR_RETURN(p.a, cfg.Float("mean", 0.0));
    FORNAX_ASSIGN_OR_RETURN(p.b, cfg.Float("stddev", 0.05));
  } else if (class_name == "GlorotUniform") {
    FORNAX_RETURN_IF_ERROR(scaling(1.0, "fan_avg", "uniform"));
  } else if (class_name == "GlorotNormal") {
    FORNAX_RETURN_IF_ERROR(scaling(1.0, "fan_avg", "truncated_normal"));
  } else if (class_name == "HeUniform") {
    FORNAX_RETURN_IF_ERROR(scaling(2.0, "fan_in", "uniform"));
  } else if (class_name == "HeNormal") {
    FORNAX_RETURN_IF_ERROR(scaling(2.0, "fan_in", "truncated_normal"));
  } else if (class_name == "LecunUniform") {
    FORNAX_RETURN_IF_ERROR(scaling(1.0, "fan_in", "uniform"));
  } else if (class_name == "LecunNormal") {
    FORNAX_RETURN_IF_ERROR(scaling(1.0, "fan_in", "truncated_normal"));
  } else if (class_name == "VarianceScaling") {
    FORNAX_ASSIGN_OR_RETURN(double scale, cfg.Float("scale", 1.0));
    if (!(scale > 0)) return cfg.ArgumentError("scale", "a positive float");
    FORNAX_ASSIGN_OR_RETURN(std::string mode,
                            cfg.Choice("mode", {"fan_in", "fan_out", "fan_avg"}, "fan_in"));
    FORNAX_ASSIGN_OR_RETURN(
        std::string dist,
        cfg.Choice("distribution", {"uniform", "truncated_normal", "untruncated_normal", "normal"},
                   "truncated_normal"));
    if (dist == "normal") dist = "truncated_normal";  // as Keras
    FORNAX_RETURN_IF_ERROR(scaling(scale, mode.c_str(), dist.c_str()));
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(cfg.context(), ": unknown initializer '", class_name,
                     "'; supported: ", absl::StrJoin(SupportedNames(), ", ")));
  }
  return p;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Initializer>> GetInitializer(const nlohmann::json& spec,
                                                                  const std::string& context) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  std::string class_name;
  const nlohmann::json* config = &kEmpty;
  if (spec.is_string()) {
    class_name = SnakeToCamel(spec.get<std::string>());
    // Keras's string aliases whose CamelCase differs from the class name.
    if (class_name == "Zero") class_name = "Zeros";
    if (class_name == "One") class_name = "Ones";
    if (class_name == "Uniform") class_name = "RandomUniform";
    if (class_name == "Normal") class_name = "RandomNormal";
  } else if (spec.is_object() && spec.contains("class_name") && spec["class_name"].is_string()) {
    class_name = spec["class_name"].get<std::string>();
    if (spec.contains("config") && spec["config"].is_object()) config = &spec["config"];
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": could not interpret initializer identifier: ", PythonRepr(spec)));
  }
  ConfigView cfg(*config, absl::StrCat(context, " (", class_name, ")"));
  FORNAX_ASSIGN_OR_RETURN(Params params, ParseParams(class_name, cfg));
  return std::make_shared<KerasInitializer>(std::move(params));
}

}  // namespace fornax
