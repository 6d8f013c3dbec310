// Trainer: compile (Create), and the fit / evaluate / predict loops on the
// compiled plans of trainer_graphs.cc.
#include "engine/keras/models/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/keras/callbacks/history.h"
#include "engine/keras/models/trainer_state.h"

namespace fornax {
namespace {

// SplitMix64: a small portable generator, so shuffles are the same on every
// platform and standard library.
uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The sample order of one epoch: Fisher-Yates keyed by (seed, epoch).
std::vector<int64_t> EpochPermutation(uint64_t seed, int epoch, int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = seed * 0x2545f4914f6cdd1dULL + static_cast<uint64_t>(epoch) + 1;
  SplitMix64(&state);
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t r = SplitMix64(&state);
    const auto j = static_cast<int64_t>(
        (static_cast<unsigned __int128>(r) * static_cast<uint64_t>(i + 1)) >> 64);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

// A dataset checked against the model and cast to the dtypes the step wants
// (x: the model inputs' dtypes; y: the losses' label dtypes), x then y.
struct PreparedData {
  std::vector<Tensor> tensors;
  int64_t num_samples = 0;
};

absl::StatusOr<PreparedData> Prepare(const Model& model, const std::vector<Tensor>& x,
                                     const std::vector<Tensor>* y,
                                     const std::vector<DType>& label_dtypes, const char* what) {
  PreparedData data;
  if (x.size() != model.inputs().size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the model has ", model.inputs().size(),
                                                   " inputs, the data has ", x.size(),
                                                   " x arrays"));
  }
  if (y != nullptr && y->size() != model.outputs().size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the model has ", model.outputs().size(),
                                                   " outputs, the data has ", y->size(),
                                                   " label arrays"));
  }
  data.num_samples = x.empty() || x[0].shape().rank() == 0 ? 0 : x[0].shape().dim(0);
  for (size_t i = 0; i < x.size(); ++i) {
    const TensorSpec& spec = model.inputs()[i];
    const Shape& shape = x[i].shape();
    bool fits = shape.rank() == spec.shape.rank();
    for (int d = 1; fits && d < shape.rank(); ++d) {
      fits = spec.shape.dim(d) < 0 || spec.shape.dim(d) == shape.dim(d);
    }
    if (!fits) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": input '", spec.name, "' expects samples of shape ",
                       spec.shape.ToString(), ", the data has ", shape.ToString()));
    }
    data.tensors.push_back(x[i].dtype() == spec.dtype ? x[i] : x[i].CastTo(spec.dtype));
  }
  if (y != nullptr) {
    for (size_t j = 0; j < y->size(); ++j) {
      const Tensor& label = (*y)[j];
      if (label.shape().rank() == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": labels for output '", model.outputs()[j].name, "' must have a sample axis"));
      }
      const DType dtype = label_dtypes[j];
      data.tensors.push_back(label.dtype() == dtype ? label : label.CastTo(dtype));
    }
  }
  for (size_t t = 0; t < data.tensors.size(); ++t) {
    if (data.tensors[t].shape().dim(0) != data.num_samples) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": every array needs the same number of samples; the first has ",
                       data.num_samples, ", array ", t, " has ", data.tensors[t].shape().dim(0)));
    }
  }
  return data;
}

// Gathers batches of a PreparedData into reusable host buffers.
class BatchGatherer {
 public:
  BatchGatherer(const PreparedData& data, int64_t batch_size) : data_(data) {
    for (const Tensor& t : data.tensors) {
      std::vector<int64_t> dims = t.shape().dims();
      dims[0] = batch_size;
      buffers_.emplace_back(t.dtype(), Shape(dims));
    }
  }
  // Rows [begin, end) of `order` (nullptr: the identity order).
  const std::vector<Tensor>& Gather(const std::vector<int64_t>* order, int64_t begin, int64_t end) {
    batch_.clear();
    const int64_t rows = end - begin;
    for (size_t t = 0; t < data_.tensors.size(); ++t) {
      const Tensor& source = data_.tensors[t];
      if (order == nullptr) {
        batch_.push_back(source.SliceRows(begin, end));  // contiguous: a view
        continue;
      }
      const size_t row_bytes =
          data_.num_samples == 0 ? 0 : source.byte_size() / static_cast<size_t>(data_.num_samples);
      const char* src = static_cast<const char*>(source.raw_data());
      char* dst = static_cast<char*>(buffers_[t].raw_data());
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t row = (*order)[static_cast<size_t>(begin + r)];
        std::memcpy(dst + static_cast<size_t>(r) * row_bytes,
                    src + static_cast<size_t>(row) * row_bytes, row_bytes);
      }
      std::vector<int64_t> dims = source.shape().dims();
      dims[0] = rows;
      batch_.emplace_back(source.dtype(), Shape(dims), buffers_[t].buffer());
    }
    return batch_;
  }

 private:
  const PreparedData& data_;
  std::vector<Tensor> buffers_;
  std::vector<Tensor> batch_;
};

std::vector<Shape> LabelShapes(const std::vector<Tensor>& y) {
  std::vector<Shape> shapes;
  for (const Tensor& t : y) {
    std::vector<int64_t> dims = t.shape().dims();
    if (!dims.empty()) dims[0] = kBatch;
    shapes.emplace_back(std::move(dims));
  }
  return shapes;
}

}  // namespace

Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(std::unique_ptr<Model> model,
                                                         CompileConfig config, uint64_t seed) {
  if (config.steps_per_execution < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compile: steps_per_execution must be >= 1, received: ", config.steps_per_execution));
  }
  std::unique_ptr<Trainer> trainer(new Trainer());
  trainer->model_ = std::move(model);
  trainer->state_ = std::make_unique<State>();
  State& state = *trainer->state_;
  state.config = std::move(config);
  state.seed = seed;
  FORNAX_ASSIGN_OR_RETURN(state.optimizer, Optimizer::FromConfig(state.config.optimizer));
  FORNAX_RETURN_IF_ERROR(trainer->model_->CreateVariables(&trainer->variables_, seed));
  for (int64_t i = 0; i < trainer->variables_.size(); ++i) {
    const VariableInfo& info = trainer->variables_.info(i);
    if (info.kind == VariableKind::kWeight && info.trainable) state.trainable.push_back(i);
  }
  state.optimizer->Build(&trainer->variables_, state.trainable);
  // Check the losses and metrics now (unknown names fail at compile, as in
  // Keras), assuming labels shaped like the outputs; they are resolved for
  // real against the first labels seen.
  if (!state.config.loss.is_null()) {
    VariableStore scratch;
    State probe;
    probe.config = state.config;
    std::vector<Shape> shapes;
    for (const TensorSpec& out : trainer->model_->outputs()) shapes.push_back(out.shape);
    FORNAX_RETURN_IF_ERROR(ResolveHeads(*trainer->model_, &scratch, &probe, shapes));
  }
  return trainer;
}

int64_t Trainer::iterations() const { return state_->optimizer->iterations(variables_); }

const Optimizer& Trainer::optimizer() const { return *state_->optimizer; }

const CompileConfig& Trainer::compile_config() const { return state_->config; }

double Trainer::learning_rate() const { return state_->optimizer->learning_rate(variables_); }

absl::Status Trainer::set_learning_rate(double lr) {
  return state_->optimizer->set_learning_rate(&variables_, lr);
}

absl::StatusOr<std::string> Trainer::TrainPlanString(int64_t batch_size) {
  std::vector<Tensor> inputs;
  for (const TensorSpec& spec : model_->inputs())
    inputs.emplace_back(spec.dtype, spec.shape.Concrete(1));
  if (!state_->heads_resolved) {
    // No labels seen yet: guess them shaped like the outputs, or without the
    // class axis for sparse losses.
    std::vector<Shape> shapes;
    for (const TensorSpec& out : model_->outputs()) shapes.push_back(out.shape);
    VariableStore scratch;
    State probe;
    probe.config = state_->config;
    FORNAX_RETURN_IF_ERROR(ResolveHeads(*model_, &scratch, &probe, shapes));
    for (size_t j = 0; j < shapes.size(); ++j) {
      if (probe.heads[j].loss && probe.heads[j].loss->sparse_labels()) {
        std::vector<int64_t> dims = shapes[j].dims();
        dims.pop_back();
        shapes[j] = Shape(std::move(dims));
      }
    }
    FORNAX_RETURN_IF_ERROR(ResolveHeads(*model_, &variables_, state_.get(), shapes));
  }
  for (const OutputHead& head : state_->heads) {
    inputs.emplace_back(head.label_dtype, head.label_shape.Concrete(1));
  }
  FORNAX_ASSIGN_OR_RETURN(Executable * plan, GetPlan(*model_, state_.get(), StepKind::kTrain,
                                                     inputs, batch_size, &retrace_count_));
  return plan->PlanString();
}

namespace {

// The metrics' results as Keras names them in logs.
Logs MetricLogs(const Trainer::State& state, const VariableStore& store,
                const std::string& prefix = "") {
  Logs logs;
  logs[prefix + "loss"] = state.loss_tracker->Result(store);
  for (const OutputHead& head : state.heads) {
    if (head.loss_tracker)
      logs[prefix + head.loss_tracker->name()] = head.loss_tracker->Result(store);
    for (const auto& metric : head.metrics) logs[prefix + metric->name()] = metric->Result(store);
  }
  return logs;
}

void ResetMetrics(const Trainer::State& state, VariableStore* store) {
  state.loss_tracker->Reset(store);
  for (const OutputHead& head : state.heads) {
    if (head.loss_tracker) head.loss_tracker->Reset(store);
    for (const auto& metric : head.metrics) metric->Reset(store);
  }
}

// Sets the metric variables a mid-epoch checkpoint saved; each must be a
// metric variable of this trainer with the same dtype and shape.
absl::Status RestoreMetrics(const std::map<std::string, Tensor>& metrics, VariableStore* store) {
  for (const auto& [path, value] : metrics) {
    const std::optional<int64_t> index = store->Find(path);
    if (!index || store->info(*index).kind != VariableKind::kMetric) {
      return absl::InvalidArgumentError(absl::StrCat("fit: initial_progress.metrics: '", path,
                                                     "' is not a metric variable of this model"));
    }
    Tensor& variable = store->value(*index);
    if (value.dtype() != variable.dtype() || value.shape() != variable.shape()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fit: initial_progress.metrics: '", path, "' is ", std::string(DTypeName(value.dtype())),
          value.shape().ToString(), ", the variable is ", std::string(DTypeName(variable.dtype())),
          variable.shape().ToString()));
    }
    std::memcpy(variable.raw_data(), value.raw_data(), value.byte_size());
  }
  return absl::OkStatus();
}

std::vector<DType> LabelDTypes(const Trainer::State& state) {
  std::vector<DType> dtypes;
  for (const OutputHead& head : state.heads) dtypes.push_back(head.label_dtype);
  return dtypes;
}

}  // namespace

absl::StatusOr<Logs> Trainer::RunEvaluation(const Dataset& data, int64_t batch_size,
                                            const std::vector<Callback*>& callbacks,
                                            TrainingControl& control) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("evaluate: batch_size must be >= 1, received: ", batch_size));
  }
  if (!state_->heads_resolved) {
    FORNAX_RETURN_IF_ERROR(ResolveHeads(*model_, &variables_, state_.get(), LabelShapes(data.y)));
  }
  FORNAX_ASSIGN_OR_RETURN(PreparedData prepared,
                          Prepare(*model_, data.x, &data.y, LabelDTypes(*state_), "evaluate"));
  for (Callback* cb : callbacks) FORNAX_RETURN_IF_ERROR(cb->OnTestBegin(control));
  ResetMetrics(*state_, &variables_);
  BatchGatherer gatherer(prepared, batch_size);
  std::vector<Tensor> outputs;
  for (int64_t begin = 0; begin < prepared.num_samples; begin += batch_size) {
    const int64_t end = std::min(prepared.num_samples, begin + batch_size);
    const std::vector<Tensor>& batch = gatherer.Gather(nullptr, begin, end);
    FORNAX_ASSIGN_OR_RETURN(Executable * plan, GetPlan(*model_, state_.get(), StepKind::kEval,
                                                       batch, batch_size, &retrace_count_));
    RunOptions options{state_->seed, iterations()};
    FORNAX_RETURN_IF_ERROR(plan->Run(batch, variables_.values(), options, &outputs));
  }
  Logs logs = MetricLogs(*state_, variables_);
  for (Callback* cb : callbacks) FORNAX_RETURN_IF_ERROR(cb->OnTestEnd(control, logs));
  return logs;
}

absl::StatusOr<Logs> Trainer::Evaluate(const Dataset& data, int64_t batch_size,
                                       const std::vector<Callback*>& callbacks) {
  TrainingControl control;
  control.trainer = this;
  return RunEvaluation(data, batch_size, callbacks, control);
}

absl::StatusOr<size_t> Trainer::PredictArenaBytes(int64_t batch_size) {
  std::vector<Tensor> inputs;
  for (const TensorSpec& spec : model_->inputs()) {
    for (int d = 1; d < spec.shape.rank(); ++d) {
      if (spec.shape.dim(d) < 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("predict plan size: input '", spec.name, "' has a variable dim ", d));
      }
    }
    inputs.emplace_back(spec.dtype, spec.shape.Concrete(1));
  }
  FORNAX_ASSIGN_OR_RETURN(Executable * plan, GetPlan(*model_, state_.get(), StepKind::kPredict,
                                                     inputs, batch_size, &retrace_count_));
  return plan->plan().arena_bytes;
}

absl::StatusOr<std::vector<Tensor>> Trainer::Predict(const std::vector<Tensor>& x,
                                                     int64_t batch_size) {
  if (batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("predict: batch_size must be >= 1, received: ", batch_size));
  }
  FORNAX_ASSIGN_OR_RETURN(PreparedData prepared, Prepare(*model_, x, nullptr, {}, "predict"));
  // Batches are contiguous row views of the inputs: no gather buffers, whose
  // allocating and zeroing of batch_size rows per call was about a tenth of
  // a serving call's one-sample MLP predict.
  std::vector<Tensor> results;
  std::vector<Tensor> outputs;
  std::vector<Tensor> batch;
  for (int64_t begin = 0; begin < prepared.num_samples; begin += batch_size) {
    const int64_t end = std::min(prepared.num_samples, begin + batch_size);
    batch.clear();
    for (const Tensor& t : prepared.tensors) batch.push_back(t.SliceRows(begin, end));
    FORNAX_ASSIGN_OR_RETURN(Executable * plan, GetPlan(*model_, state_.get(), StepKind::kPredict,
                                                       batch, batch_size, &retrace_count_));
    RunOptions options{state_->seed, iterations(), /*inference=*/true};
    FORNAX_RETURN_IF_ERROR(plan->Run(batch, variables_.values(), options, &outputs));
    // One batch covers every sample: the plan's outputs are the result.
    if (begin == 0 && end == prepared.num_samples) return outputs;
    if (results.empty()) {
      for (const Tensor& out : outputs) {
        std::vector<int64_t> dims = out.shape().dims();
        dims[0] = prepared.num_samples;
        results.emplace_back(out.dtype(), Shape(std::move(dims)));
      }
    }
    for (size_t k = 0; k < outputs.size(); ++k) {
      const size_t row_bytes = outputs[k].byte_size() / static_cast<size_t>(end - begin);
      std::memcpy(
          static_cast<char*>(results[k].raw_data()) + static_cast<size_t>(begin) * row_bytes,
          outputs[k].raw_data(), outputs[k].byte_size());
    }
  }
  return results;
}

absl::StatusOr<History> Trainer::Fit(const Dataset& train, const Dataset* validation,
                                     const FitConfig& config,
                                     const std::vector<Callback*>& callbacks) {
  if (config.batch_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("fit: batch_size must be >= 1, received: ", config.batch_size));
  }
  if (config.validation_split < 0 || config.validation_split >= 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fit: validation_split must be in [0, 1), received: ", config.validation_split));
  }
  if (!state_->heads_resolved) {
    FORNAX_RETURN_IF_ERROR(ResolveHeads(*model_, &variables_, state_.get(), LabelShapes(train.y)));
  }
  FORNAX_ASSIGN_OR_RETURN(PreparedData all,
                          Prepare(*model_, train.x, &train.y, LabelDTypes(*state_), "fit"));
  // validation_split: the last fraction of the samples, taken before any
  // shuffling (Keras's train_validation_split); validation data overrides it.
  PreparedData train_data = all;
  std::optional<Dataset> split_validation;
  if (validation == nullptr && config.validation_split > 0) {
    const int64_t n = all.num_samples;
    const auto split_at =
        static_cast<int64_t>(std::floor(static_cast<double>(n) * (1.0 - config.validation_split)));
    if (split_at == 0 || split_at == n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fit: validation_split=", config.validation_split, " leaves ", split_at, " training and ",
          n - split_at, " validation samples of ", n, "; both must be > 0"));
    }
    split_validation.emplace();
    const size_t nx = train.x.size();
    for (size_t t = 0; t < all.tensors.size(); ++t) {
      train_data.tensors[t] = all.tensors[t].SliceRows(0, split_at);
      (t < nx ? split_validation->x : split_validation->y)
          .push_back(all.tensors[t].SliceRows(split_at, n));
    }
    train_data.num_samples = split_at;
    validation = &*split_validation;
  }

  if (train_data.num_samples == 0) {
    return absl::InvalidArgumentError("fit: the training data has no samples");
  }
  const int64_t batch_size = config.batch_size;
  const int64_t steps_per_epoch = (train_data.num_samples + batch_size - 1) / batch_size;
  const int64_t steps_per_execution = state_->config.steps_per_execution;
  const EpochProgress& progress = config.initial_progress;
  if (progress.step != 0 && (progress.steps_per_epoch != steps_per_epoch || progress.step < 0 ||
                             progress.step >= steps_per_epoch)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fit: initial_progress is step ", progress.step, " of ", progress.steps_per_epoch,
        " steps per epoch, but this fit has ", steps_per_epoch,
        " steps per epoch (batch_size or the training data changed)"));
  }
  HistoryCallback history;
  std::vector<Callback*> all_callbacks(callbacks.begin(), callbacks.end());
  all_callbacks.push_back(&history);
  TrainingControl control;
  control.trainer = this;
  control.steps_per_epoch = steps_per_epoch;
  control.epochs = config.epochs;

  BatchGatherer gatherer(train_data, batch_size);
  std::vector<Tensor> outputs;
  Logs epoch_logs;
  for (Callback* cb : all_callbacks) FORNAX_RETURN_IF_ERROR(cb->OnTrainBegin(control));
  for (int epoch = config.initial_epoch; epoch < config.epochs; ++epoch) {
    ResetMetrics(*state_, &variables_);
    // A mid-epoch resume skips the batches already trained (the permutation
    // depends only on (seed, epoch), so it is that epoch's order) and
    // continues the epoch's metrics where they were.
    const bool resumed = epoch == config.initial_epoch && progress.step > 0;
    if (resumed) FORNAX_RETURN_IF_ERROR(RestoreMetrics(progress.metrics, &variables_));
    for (Callback* cb : all_callbacks) FORNAX_RETURN_IF_ERROR(cb->OnEpochBegin(control, epoch));
    std::vector<int64_t> order;
    if (config.shuffle) order = EpochPermutation(state_->seed, epoch, train_data.num_samples);
    for (int64_t step = resumed ? progress.step : 0; step < steps_per_epoch;) {
      const int64_t last = std::min(steps_per_epoch, step + steps_per_execution);
      for (; step < last; ++step) {
        const int64_t begin = step * batch_size;
        const int64_t end = std::min(train_data.num_samples, begin + batch_size);
        const std::vector<Tensor>& batch =
            gatherer.Gather(config.shuffle ? &order : nullptr, begin, end);
        FORNAX_ASSIGN_OR_RETURN(Executable * plan, GetPlan(*model_, state_.get(), StepKind::kTrain,
                                                           batch, batch_size, &retrace_count_));
        state_->optimizer->PrepareStep(&variables_);
        RunOptions options{state_->seed, iterations()};
        FORNAX_RETURN_IF_ERROR(plan->Run(batch, variables_.values(), options, &outputs));
      }
      const Logs logs = MetricLogs(*state_, variables_);
      for (Callback* cb : all_callbacks) {
        FORNAX_RETURN_IF_ERROR(cb->OnTrainBatchEnd(control, step - 1, logs));
      }
      if (control.stop_training) break;
    }
    epoch_logs = MetricLogs(*state_, variables_);
    if (validation != nullptr) {
      FORNAX_ASSIGN_OR_RETURN(Logs val_logs,
                              RunEvaluation(*validation, batch_size, all_callbacks, control));
      for (const auto& [name, value] : val_logs) epoch_logs["val_" + name] = value;
    }
    for (Callback* cb : all_callbacks) {
      cb->AugmentEpochLogs(control, &epoch_logs);
      FORNAX_RETURN_IF_ERROR(cb->OnEpochEnd(control, epoch, epoch_logs));
    }
    if (control.stop_training) break;
  }
  for (Callback* cb : all_callbacks) FORNAX_RETURN_IF_ERROR(cb->OnTrainEnd(control, epoch_logs));
  return history.history();
}

}  // namespace fornax
