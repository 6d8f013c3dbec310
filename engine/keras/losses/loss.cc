#include "engine/keras/losses/loss.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"

namespace fornax {

ValueId Loss::Values(Builder& b, ValueId y_true, ValueId y_pred) const {
  SqueezeOrExpandToSameRank(b, &y_true, &y_pred);
  return fn_(b, y_true, y_pred);
}

ValueId Loss::Call(Builder& b, ValueId y_true, ValueId y_pred) const {
  ValueId values = Values(b, y_true, y_pred);
  if (!b.ok()) return kNoValue;
  if (b.dtype(values) != DType::kFloat32) values = b.Cast(values, DType::kFloat32);
  return reduction_ == Reduction::kSum ? b.SumAll(values) : b.MeanAll(values);
}

ValueId SqueezeLast(Builder& b, ValueId x) {
  std::vector<int64_t> dims = b.shape(x).dims();
  dims.pop_back();
  return b.Reshape(x, Shape(std::move(dims)));
}

ValueId ExpandLast(Builder& b, ValueId x) {
  std::vector<int64_t> dims = b.shape(x).dims();
  dims.push_back(1);
  return b.Reshape(x, Shape(std::move(dims)));
}

void SqueezeOrExpandToSameRank(Builder& b, ValueId* x1, ValueId* x2) {
  const int r1 = b.rank(*x1);
  const int r2 = b.rank(*x2);
  if (r1 == r2) return;
  if (r1 == r2 + 1 && b.shape(*x1).dim(r1 - 1) == 1) {
    if (r2 == 1) {
      *x2 = ExpandLast(b, *x2);
    } else {
      *x1 = SqueezeLast(b, *x1);
    }
  }
  if (r2 == r1 + 1 && b.shape(*x2).dim(r2 - 1) == 1) {
    if (r1 == 1) {
      *x1 = ExpandLast(b, *x1);
    } else {
      *x2 = SqueezeLast(b, *x2);
    }
  }
}

ValueId Clip(Builder& b, ValueId x, double lo, double hi) {
  return b.Minimum(b.Maximum(x, b.Scalar(lo, b.dtype(x))), b.Scalar(hi, b.dtype(x)));
}

ValueId CastLike(Builder& b, ValueId x, ValueId like) {
  return b.dtype(x) == b.dtype(like) ? x : b.Cast(x, b.dtype(like));
}

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Keras's compile_utils.is_binary_or_sparse_categorical, on shapes without
// the batch dim being relevant (only ranks and last dims are read).
void ClassifyLabels(const Shape& y_true, const Shape& y_pred, bool* is_binary, bool* is_sparse) {
  const int64_t t_last = y_true.rank() > 0 ? y_true.dim(y_true.rank() - 1) : 1;
  const int64_t p_last = y_pred.rank() > 0 ? y_pred.dim(y_pred.rank() - 1) : 1;
  *is_binary = p_last == 1;
  *is_sparse = y_true.rank() < y_pred.rank() || (t_last == 1 && p_last > 1);
}

absl::StatusOr<Reduction> ParseReduction(const ConfigReader& reader) {
  FORNAX_ASSIGN_OR_RETURN(std::string reduction, reader.String("reduction", "sum_over_batch_size"));
  if (reduction == "sum_over_batch_size" || reduction == "mean") {
    return Reduction::kSumOverBatchSize;
  }
  if (reduction == "sum") return Reduction::kSum;
  return absl::InvalidArgumentError(
      absl::StrCat(reader.what(),
                   ": field \"reduction\" must be \"sum_over_batch_size\", "
                   "\"mean\" or \"sum\" for training, received: \"",
                   reduction, "\""));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Loss>> LossFromConfig(const nlohmann::json& config,
                                                     const Shape& y_true_shape,
                                                     const Shape& y_pred_shape) {
  FORNAX_ASSIGN_OR_RETURN(SerializedObject object, ParseSerialized(config, "loss"));
  std::string id = object.class_name;
  if (object.from_string) {
    const std::string lower = Lower(id);
    if (lower == "crossentropy" || lower == "ce") {
      bool is_binary = false, is_sparse = false;
      ClassifyLabels(y_true_shape, y_pred_shape, &is_binary, &is_sparse);
      id = is_binary   ? "binary_crossentropy"
           : is_sparse ? "sparse_categorical_crossentropy"
                       : "categorical_crossentropy";
    }
  }
  const ConfigReader reader(object.config, absl::StrCat("loss '", object.class_name, "'"));
  FORNAX_RETURN_IF_ERROR(
      reader.CheckKnownFields({"name", "reduction", "dtype", "from_logits", "label_smoothing",
                               "axis", "ignore_class", "delta"}));
  FORNAX_ASSIGN_OR_RETURN(Reduction reduction, ParseReduction(reader));
  // A string identifier names the function (LossFunctionWrapper keeps it as
  // the name); a class config carries its own name.
  auto name_or = [&](const char* default_name) -> absl::StatusOr<std::string> {
    return reader.String("name", object.from_string ? id : default_name);
  };

  if (id == "mean_squared_error" || id == "mse" || id == "MSE" || id == "MeanSquaredError") {
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("mean_squared_error"));
    return std::make_unique<Loss>(name, MeanSquaredError, reduction, false);
  }
  if (id == "mean_absolute_error" || id == "mae" || id == "MAE" || id == "MeanAbsoluteError") {
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("mean_absolute_error"));
    return std::make_unique<Loss>(name, MeanAbsoluteError, reduction, false);
  }
  if (id == "huber" || id == "Huber") {
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("huber_loss"));
    FORNAX_ASSIGN_OR_RETURN(double delta, reader.Double("delta", 1.0));
    auto fn = [delta](Builder& b, ValueId t, ValueId p) { return Huber(b, t, p, delta); };
    return std::make_unique<Loss>(name, fn, reduction, false);
  }
  if (id == "binary_crossentropy" || id == "BinaryCrossentropy" ||
      id == "categorical_crossentropy" || id == "CategoricalCrossentropy" ||
      id == "sparse_categorical_crossentropy" || id == "SparseCategoricalCrossentropy") {
    FORNAX_ASSIGN_OR_RETURN(bool from_logits, reader.Bool("from_logits", false));
    FORNAX_ASSIGN_OR_RETURN(double smoothing, reader.Double("label_smoothing", 0.0));
    FORNAX_ASSIGN_OR_RETURN(int64_t axis, reader.Int("axis", -1));
    if (axis != -1) {
      return absl::InvalidArgumentError(
          absl::StrCat(reader.what(), ": only axis=-1 is supported, received: axis=", axis));
    }
    if (id == "binary_crossentropy" || id == "BinaryCrossentropy") {
      FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("binary_crossentropy"));
      auto fn = [from_logits, smoothing](Builder& b, ValueId t, ValueId p) {
        return BinaryCrossentropy(b, t, p, from_logits, smoothing);
      };
      return std::make_unique<Loss>(name, fn, reduction, false);
    }
    if (id == "categorical_crossentropy" || id == "CategoricalCrossentropy") {
      FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("categorical_crossentropy"));
      auto fn = [from_logits, smoothing](Builder& b, ValueId t, ValueId p) {
        return CategoricalCrossentropy(b, t, p, from_logits, smoothing);
      };
      return std::make_unique<Loss>(name, fn, reduction, false);
    }
    if (reader.Has("ignore_class")) {
      return absl::InvalidArgumentError(absl::StrCat(
          reader.what(),
          ": ignore_class is not supported, received: ", reader.raw("ignore_class").dump()));
    }
    FORNAX_ASSIGN_OR_RETURN(std::string name, name_or("sparse_categorical_crossentropy"));
    auto fn = [from_logits](Builder& b, ValueId t, ValueId p) {
      return SparseCategoricalCrossentropy(b, t, p, from_logits);
    };
    return std::make_unique<Loss>(name, fn, reduction, true);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "loss: unknown loss '", object.class_name,
      "'; expected one of mean_squared_error (mse), mean_absolute_error (mae), huber, "
      "binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy, "
      "crossentropy, or their class names (MeanSquaredError, Huber, ...)"));
}

}  // namespace fornax
