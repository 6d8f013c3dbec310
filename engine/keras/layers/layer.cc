#include "engine/keras/layers/layer.h"

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace fornax {

absl::Status Layer::Build(std::span<const TensorSpec> inputs) {
  if (built_) return absl::OkStatus();
  if (num_inputs() == 1 && inputs.size() != 1) {
    return Error(absl::StrCat("expected 1 input, received ", inputs.size()));
  }
  if (num_inputs() < 0 && inputs.size() < 2) {
    return Error(absl::StrCat("expects a list of at least 2 inputs, received ", inputs.size()));
  }
  FORNAX_RETURN_IF_ERROR(BuildImpl(inputs));
  built_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ValueId>> Layer::Apply(Builder& b, std::span<const ValueId> inputs,
                                                  const CallContext& ctx) const {
  if (!built_) {
    return absl::FailedPreconditionError(absl::StrCat(context(), " called before Build"));
  }
  FORNAX_RETURN_IF_ERROR(b.status());
  std::vector<ValueId> cast_inputs(inputs.begin(), inputs.end());
  if (!keeps_input_dtype()) {
    for (ValueId& x : cast_inputs) {
      if (!IsFloating(b.dtype(x))) x = b.Cast(x, DType::kFloat32);
    }
  }
  std::vector<ValueId> outputs = Call(b, cast_inputs, ctx);
  if (!b.ok()) {
    absl::Status error = b.TakeStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(context(), " (", class_name(), "): ", error.message()));
  }
  return outputs;
}

int64_t Layer::CountParams(bool trainable_only) const {
  int64_t total = 0;
  for (const WeightSpec& w : weights_) {
    if (!trainable_only || w.trainable) total += w.shape.NumElements();
  }
  return total;
}

int Layer::AddWeight(std::string name, Shape shape, std::shared_ptr<const Initializer> initializer,
                     std::optional<Regularizer> regularizer, bool trainable) {
  WeightSpec w;
  w.path = absl::StrCat(this->name(), "/", name);
  w.name = std::move(name);
  w.shape = std::move(shape);
  w.dtype = common_.dtype;
  w.trainable = trainable && common_.trainable;
  w.initializer = std::move(initializer);
  w.regularizer = regularizer;
  weights_.push_back(std::move(w));
  return static_cast<int>(weights_.size()) - 1;
}

ValueId Layer::Weight(Builder& b, int i) const {
  const WeightSpec& w = weights_[static_cast<size_t>(i)];
  return b.Variable(w.index, w.dtype, w.shape, w.path);
}

absl::StatusOr<std::shared_ptr<const Initializer>> InitializerArg(const ConfigView& cfg,
                                                                  const std::string& key,
                                                                  const std::string& fallback) {
  const nlohmann::json* spec = cfg.Find(key);
  return GetInitializer(spec ? *spec : nlohmann::json(fallback),
                        absl::StrCat(cfg.context(), ": argument `", key, "`"));
}

absl::StatusOr<std::optional<Regularizer>> RegularizerArg(const ConfigView& cfg,
                                                          const std::string& key) {
  const nlohmann::json* spec = cfg.Find(key);
  if (spec == nullptr) return std::nullopt;
  return GetRegularizer(*spec, absl::StrCat(cfg.context(), ": argument `", key, "`"));
}

absl::StatusOr<Padding> PaddingArg(const ConfigView& cfg) {
  absl::StatusOr<std::string> padding = cfg.Choice("padding", {"valid", "same"}, "valid");
  if (!padding.ok()) return padding.status();
  return *padding == "same" ? Padding::kSame : Padding::kValid;
}

absl::Status RequireChannelsLast(const ConfigView& cfg) {
  absl::StatusOr<std::string> format =
      cfg.Choice("data_format", {"channels_last", "channels_first"}, "channels_last");
  if (!format.ok()) return format.status();
  if (*format != "channels_last") {
    return cfg.Error(
        "data_format='channels_first' is not supported; Fornax is channels_last only (NHWC)");
  }
  return absl::OkStatus();
}

absl::Status RefuseConstraint(const ConfigView& cfg, const std::string& key) {
  if (!cfg.Has(key)) return absl::OkStatus();
  return cfg.Error(absl::StrCat("argument `", key,
                                "`: weight constraints are not supported yet. Received: ", key, "=",
                                PythonRepr(*cfg.Find(key))));
}

absl::Status Layer::Error(const std::string& message) const {
  return absl::InvalidArgumentError(absl::StrCat(context(), " (", class_name(), "): ", message));
}

}  // namespace fornax
