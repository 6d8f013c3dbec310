#include "engine/keras/optimizers/optimizer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/base/check.h"
#include "engine/base/status_macros.h"
#include "engine/keras/losses/config_reader.h"

namespace fornax {

absl::StatusOr<OptimizerOptions> ParseOptimizerOptions(const ConfigReader& config,
                                                       const std::string& default_name,
                                                       double default_lr) {
  OptimizerOptions options;
  FORNAX_ASSIGN_OR_RETURN(options.name, config.String("name", default_name));
  if (config.Has("learning_rate") && config.raw("learning_rate").is_object()) {
    FORNAX_ASSIGN_OR_RETURN(options.schedule, ScheduleFromConfig(config.raw("learning_rate")));
  } else {
    FORNAX_ASSIGN_OR_RETURN(options.learning_rate, config.Double("learning_rate", default_lr));
  }
  FORNAX_ASSIGN_OR_RETURN(options.weight_decay, config.OptionalDouble("weight_decay"));
  FORNAX_ASSIGN_OR_RETURN(options.clipnorm, config.OptionalDouble("clipnorm"));
  FORNAX_ASSIGN_OR_RETURN(options.clipvalue, config.OptionalDouble("clipvalue"));
  FORNAX_ASSIGN_OR_RETURN(options.global_clipnorm, config.OptionalDouble("global_clipnorm"));
  const int clip_args =
      (options.clipnorm ? 1 : 0) + (options.clipvalue ? 1 : 0) + (options.global_clipnorm ? 1 : 0);
  if (clip_args > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.what(), ": only one of clipnorm, clipvalue and global_clipnorm can be set"));
  }
  FORNAX_ASSIGN_OR_RETURN(bool use_ema, config.Bool("use_ema", false));
  FORNAX_ASSIGN_OR_RETURN(int64_t accumulation, config.Int("gradient_accumulation_steps", 0));
  FORNAX_ASSIGN_OR_RETURN(std::optional<double> loss_scale,
                          config.OptionalDouble("loss_scale_factor"));
  if (use_ema || accumulation != 0 || loss_scale) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.what(),
                     ": use_ema, gradient_accumulation_steps and loss_scale_factor are not "
                     "supported; expected them unset (false/null)"));
  }
  return options;
}

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::FromConfig(const nlohmann::json& config) {
  FORNAX_ASSIGN_OR_RETURN(SerializedObject object, ParseSerialized(config, "optimizer"));
  std::string id = object.class_name;
  std::transform(id.begin(), id.end(), id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const ConfigReader reader(object.config, absl::StrCat("optimizer '", object.class_name, "'"));
  std::vector<std::string> known = {"name",
                                    "learning_rate",
                                    "weight_decay",
                                    "clipnorm",
                                    "global_clipnorm",
                                    "clipvalue",
                                    "use_ema",
                                    "ema_momentum",
                                    "ema_overwrite_frequency",
                                    "loss_scale_factor",
                                    "gradient_accumulation_steps"};
  const std::vector<std::string> own =
      id == "sgd" ? std::vector<std::string>{"momentum", "nesterov"}
      : id == "adam" || id == "adamw"
          ? std::vector<std::string>{"beta_1", "beta_2", "epsilon", "amsgrad"}
      : id == "rmsprop" ? std::vector<std::string>{"rho", "momentum", "epsilon", "centered"}
      : id == "adagrad" ? std::vector<std::string>{"initial_accumulator_value", "epsilon"}
                        : std::vector<std::string>{};
  known.insert(known.end(), own.begin(), own.end());
  if (!own.empty()) FORNAX_RETURN_IF_ERROR(reader.CheckKnownFields(known));
  if (id == "sgd") {
    FORNAX_ASSIGN_OR_RETURN(OptimizerOptions options, ParseOptimizerOptions(reader, "sgd", 0.01));
    return MakeSgd(reader, std::move(options));
  }
  if (id == "adam" || id == "adamw") {
    FORNAX_ASSIGN_OR_RETURN(OptimizerOptions options, ParseOptimizerOptions(reader, id, 0.001));
    if (id == "adamw") {
      if (object.config.contains("weight_decay") && object.config["weight_decay"].is_null()) {
        return absl::InvalidArgumentError(absl::StrCat(
            reader.what(), ": field \"weight_decay\" must be a float, received: null"));
      }
      if (!options.weight_decay) options.weight_decay = 0.004;
    }
    return MakeAdam(reader, std::move(options));
  }
  if (id == "rmsprop") {
    FORNAX_ASSIGN_OR_RETURN(OptimizerOptions options,
                            ParseOptimizerOptions(reader, "rmsprop", 0.001));
    return MakeRmsprop(reader, std::move(options));
  }
  if (id == "adagrad") {
    FORNAX_ASSIGN_OR_RETURN(OptimizerOptions options,
                            ParseOptimizerOptions(reader, "adagrad", 0.001));
    return MakeAdagrad(reader, std::move(options));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("optimizer: unknown optimizer '", object.class_name,
                   "'; expected one of SGD, Adam, AdamW, RMSprop, Adagrad"));
}

void Optimizer::Build(VariableStore* store, std::vector<int64_t> weights) {
  store_ = store;
  weights_ = std::move(weights);
  const std::string& name = options_.name;
  iteration_index_ = store->Add({name + "/iteration", VariableKind::kCounter, false},
                                Tensor(DType::kInt64, Shape{}));
  keras_variables_.push_back(iteration_index_);
  if (options_.schedule) {
    learning_rate_index_ = store->Add({name + "/scheduled_lr", VariableKind::kOptimizer, false},
                                      Tensor(DType::kFloat32, Shape{}));
  } else {
    learning_rate_index_ = store->Add({name + "/learning_rate", VariableKind::kOptimizer, false},
                                      Tensor::Scalar(static_cast<float>(options_.learning_rate)));
    keras_variables_.push_back(learning_rate_index_);
  }
  const int64_t first_slot = store->size();
  BuildSlots(store);
  for (int64_t i = first_slot; i < store->size(); ++i) keras_variables_.push_back(i);
}

std::vector<std::vector<int64_t>> Optimizer::AddSlots(VariableStore* store,
                                                      const std::vector<std::string>& slot_names,
                                                      float initial_value) {
  std::vector<std::vector<int64_t>> slots(slot_names.size());
  for (int64_t weight : weights_) {
    // Copies, not a reference: store->Add below may reallocate the store.
    const DType dtype = store->value(weight).dtype();
    const Shape shape = store->value(weight).shape();
    const std::string prefix = absl::StrCat(
        options_.name, "/", absl::StrReplaceAll(store->info(weight).path, {{"/", "_"}}), "_");
    for (size_t s = 0; s < slot_names.size(); ++s) {
      Tensor slot(dtype, shape);
      for (int64_t e = 0; e < slot.num_elements(); ++e) slot.SetFromDouble(e, initial_value);
      slots[s].push_back(
          store->Add({prefix + slot_names[s], VariableKind::kOptimizer, false}, std::move(slot)));
    }
  }
  return slots;
}

ValueId Optimizer::Read(Builder& b, int64_t index) const {
  const Tensor& value = store_->value(index);
  return b.Variable(index, value.dtype(), value.shape(), store_->info(index).path);
}

std::vector<ValueId> Optimizer::ClipGradients(Builder& b, std::span<const ValueId> grads) const {
  std::vector<ValueId> clipped(grads.begin(), grads.end());
  if (options_.clipnorm && *options_.clipnorm > 0) {
    // BaseOptimizer._clip_by_norm, with its two-tap where for a zero norm.
    const double clipnorm = *options_.clipnorm;
    for (ValueId& g : clipped) {
      if (g == kNoValue) continue;
      ValueId l2sum = b.SumAll(b.Square(g));
      ValueId positive = b.Binary(Op::kGreater, l2sum, b.Scalar(0.0));
      ValueId l2sum_safe = b.Where(positive, l2sum, b.Scalar(1.0));
      ValueId l2norm = b.Where(positive, b.Sqrt(l2sum_safe), l2sum);
      g = b.Div(b.Mul(g, b.Scalar(clipnorm)), b.Maximum(l2norm, b.Scalar(clipnorm)));
    }
  } else if (options_.global_clipnorm && *options_.global_clipnorm > 0) {
    // clip_by_global_norm: scale = clip * min(1 / norm, 1 / clip), NaN for a
    // non-finite norm.
    const double clip = *options_.global_clipnorm;
    ValueId squared = kNoValue;
    for (ValueId g : clipped) {
      if (g == kNoValue) continue;
      ValueId s = b.SumAll(b.Square(g));
      squared = squared == kNoValue ? s : b.Add(squared, s);
    }
    if (squared == kNoValue) return clipped;
    ValueId norm = b.Sqrt(squared);
    ValueId one = b.Scalar(1.0);
    ValueId scale = b.Mul(b.Scalar(clip), b.Minimum(b.Div(one, norm), b.Scalar(1.0 / clip)));
    scale = b.Add(scale, b.Sub(norm, norm));
    for (ValueId& g : clipped) {
      if (g != kNoValue) g = b.Mul(g, scale);
    }
  } else if (options_.clipvalue && *options_.clipvalue > 0) {
    const double v = *options_.clipvalue;
    for (ValueId& g : clipped) {
      if (g != kNoValue) g = b.Minimum(b.Maximum(g, b.Scalar(-v)), b.Scalar(v));
    }
  }
  return clipped;
}

absl::Status Optimizer::Apply(Builder& b, std::span<const ValueId> grads) {
  FORNAX_CHECK(store_ != nullptr && grads.size() == weights_.size());
  iteration_value_ = Read(b, iteration_index_);
  ValueId lr = Read(b, learning_rate_index_);
  std::vector<ValueId> clipped = ClipGradients(b, grads);
  bool any_gradient = false;
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (clipped[i] == kNoValue) continue;
    any_gradient = true;
    ValueId var = Read(b, weights_[i]);
    if (options_.weight_decay) {
      var = b.Sub(var, b.Mul(b.Mul(var, b.Scalar(*options_.weight_decay)), lr));
    }
    ValueId updated = UpdateStep(b, i, clipped[i], var, lr);
    b.Assign(weights_[i], updated);
  }
  if (!any_gradient) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer '", options_.name, "': no gradients provided for any variable"));
  }
  b.Assign(iteration_index_, b.Add(iteration_value_, b.Scalar(1.0, DType::kInt64)));
  if (!b.ok()) {
    return absl::Status(b.status().code(),
                        absl::StrCat("optimizer '", options_.name, "': ", b.status().message()));
  }
  return absl::OkStatus();
}

void Optimizer::PrepareStep(VariableStore* store) const {
  if (!options_.schedule) return;
  store->value(learning_rate_index_).data<float>()[0] = (*options_.schedule)(iterations(*store));
}

int64_t Optimizer::iterations(const VariableStore& store) const {
  return store.value(iteration_index_).data<int64_t>()[0];
}

double Optimizer::learning_rate(const VariableStore& store) const {
  if (options_.schedule) return (*options_.schedule)(iterations(store));
  return store.value(learning_rate_index_).data<float>()[0];
}

absl::Status Optimizer::set_learning_rate(VariableStore* store, double lr) const {
  if (options_.schedule) {
    return absl::FailedPreconditionError(absl::StrCat(
        "optimizer '", options_.name,
        "' was created with a LearningRateSchedule, so its learning rate is not settable"));
  }
  store->value(learning_rate_index_).data<float>()[0] = static_cast<float>(lr);
  return absl::OkStatus();
}

}  // namespace fornax
