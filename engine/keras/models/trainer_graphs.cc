// Resolving compile()'s losses and metrics per output, tracing the train,
// eval and predict steps into IR, and caching their compiled plans.
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/autodiff/autodiff.h"
#include "engine/base/status_macros.h"
#include "engine/compiler/compile.h"
#include "engine/keras/models/trainer_state.h"

namespace fornax {
namespace {

// Spreads a compile() argument (loss or loss_weights) over the outputs: one
// value for all, a list in output order, or a dict keyed by output name.
absl::StatusOr<std::vector<nlohmann::json>> PerOutput(const nlohmann::json& arg, const char* what,
                                                      const std::vector<TensorSpec>& outputs,
                                                      bool broadcast_single) {
  const size_t n = outputs.size();
  std::vector<nlohmann::json> per_output(n);
  if (arg.is_null()) return per_output;
  if (arg.is_array()) {
    if (arg.size() != n) {
      return absl::InvalidArgumentError(absl::StrCat("compile: ", what, " is a list of ",
                                                     arg.size(), " entries but the model has ", n,
                                                     " outputs"));
    }
    for (size_t j = 0; j < n; ++j) per_output[j] = arg[j];
    return per_output;
  }
  if (arg.is_object() && !arg.contains("class_name")) {
    std::set<std::string> names;
    for (size_t j = 0; j < n; ++j) {
      names.insert(outputs[j].name);
      if (arg.contains(outputs[j].name)) per_output[j] = arg[outputs[j].name];
    }
    for (const auto& [key, value] : arg.items()) {
      if (names.count(key) == 0) {
        std::vector<std::string> list(names.begin(), names.end());
        return absl::InvalidArgumentError(
            absl::StrCat("compile: ", what, " has key '", key,
                         "', which is not an output; outputs: ", absl::StrJoin(list, ", ")));
      }
    }
    return per_output;
  }
  if (n != 1 && !broadcast_single) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compile: ", what, " must be a list or a dict keyed by output name for a model with ", n,
        " outputs, received: ", arg.dump()));
  }
  for (size_t j = 0; j < n; ++j) per_output[j] = arg;
  return per_output;
}

// metrics: for one output, a metric or a list of them; for several, a list
// per output (or one metric per output), or a dict keyed by output name.
absl::StatusOr<std::vector<std::vector<nlohmann::json>>> MetricsPerOutput(
    const nlohmann::json& arg, const std::vector<TensorSpec>& outputs) {
  const size_t n = outputs.size();
  std::vector<std::vector<nlohmann::json>> per_output(n);
  auto as_list = [](const nlohmann::json& j) {
    std::vector<nlohmann::json> list;
    if (j.is_null()) return list;
    if (j.is_array()) {
      for (const nlohmann::json& m : j) list.push_back(m);
    } else {
      list.push_back(j);
    }
    return list;
  };
  if (arg.is_null()) return per_output;
  if (n == 1 && !(arg.is_object() && !arg.contains("class_name"))) {
    per_output[0] = as_list(arg);
    return per_output;
  }
  if (arg.is_array() && n > 1) {
    if (arg.size() != n) {
      return absl::InvalidArgumentError(
          absl::StrCat("compile: metrics for a model with ", n,
                       " outputs must be a list with one entry per "
                       "output or a dict keyed by output name, received a list of ",
                       arg.size()));
    }
    for (size_t j = 0; j < n; ++j) per_output[j] = as_list(arg[j]);
    return per_output;
  }
  FORNAX_ASSIGN_OR_RETURN(std::vector<nlohmann::json> by_name,
                          PerOutput(arg, "metrics", outputs, /*broadcast_single=*/false));
  for (size_t j = 0; j < n; ++j) per_output[j] = as_list(by_name[j]);
  return per_output;
}

absl::Status WithContext(const absl::Status& status, const std::string& context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace

absl::Status ResolveHeads(const Model& model, VariableStore* store, Trainer::State* state,
                          const std::vector<Shape>& label_shapes) {
  const std::vector<TensorSpec>& outputs = model.outputs();
  const CompileConfig& config = state->config;
  if (config.loss.is_null()) {
    return absl::InvalidArgumentError("compile: no loss given; training and evaluation need one");
  }
  FORNAX_ASSIGN_OR_RETURN(std::vector<nlohmann::json> losses,
                          PerOutput(config.loss, "loss", outputs, /*broadcast_single=*/true));
  FORNAX_ASSIGN_OR_RETURN(
      std::vector<nlohmann::json> weights,
      PerOutput(config.loss_weights, "loss_weights", outputs, /*broadcast_single=*/false));
  FORNAX_ASSIGN_OR_RETURN(auto metrics, MetricsPerOutput(config.metrics, outputs));

  std::vector<OutputHead> heads(outputs.size());
  int num_losses = 0;
  for (size_t j = 0; j < outputs.size(); ++j) {
    OutputHead& head = heads[j];
    head.name = outputs[j].name;
    head.label_shape = label_shapes[j];
    const std::string context = absl::StrCat("compile: output '", head.name, "'");
    if (!losses[j].is_null()) {
      absl::StatusOr<std::unique_ptr<Loss>> loss =
          LossFromConfig(losses[j], head.label_shape, outputs[j].shape);
      FORNAX_RETURN_IF_ERROR(WithContext(loss.status(), context));
      head.loss = *std::move(loss);
      head.label_dtype = head.loss->label_dtype();
      ++num_losses;
    }
    if (!weights[j].is_null()) {
      if (!weights[j].is_number()) {
        return absl::InvalidArgumentError(
            absl::StrCat(context, ": loss weight must be a number, received: ", weights[j].dump()));
      }
      head.loss_weight = weights[j].get<double>();
    }
    for (const nlohmann::json& m : metrics[j]) {
      absl::StatusOr<std::unique_ptr<Metric>> metric =
          MetricFromConfig(m, head.label_shape, outputs[j].shape);
      FORNAX_RETURN_IF_ERROR(WithContext(metric.status(), context));
      if (outputs.size() > 1) (*metric)->set_name(absl::StrCat(head.name, "_", (*metric)->name()));
      head.metrics.push_back(*std::move(metric));
    }
  }
  if (num_losses == 0) {
    return absl::InvalidArgumentError("compile: no output has a loss");
  }
  state->loss_tracker = std::make_unique<Metric>("loss");
  state->loss_tracker->CreateVariables(store, "metrics/");
  for (OutputHead& head : heads) {
    if (head.loss && num_losses > 1) {
      head.loss_tracker = std::make_unique<Metric>(head.name + "_loss");
      head.loss_tracker->CreateVariables(store, "metrics/");
    }
    for (auto& metric : head.metrics) metric->CreateVariables(store, "metrics/");
  }
  state->heads = std::move(heads);
  state->heads_resolved = true;
  return absl::OkStatus();
}

namespace {

Shape BatchShape(const Tensor& t) {
  std::vector<int64_t> dims = t.shape().dims();
  dims[0] = kBatch;
  return Shape(std::move(dims));
}

// Emits the step's graph: forward pass, and for train/eval the losses and
// metric updates, and for train the gradients and optimizer update.
absl::StatusOr<Graph> TraceStep(const Model& model, Trainer::State* state, StepKind kind,
                                const std::vector<Tensor>& inputs) {
  Graph graph;
  Builder b(&graph);
  const size_t nx = model.inputs().size();
  std::vector<ValueId> xs;
  for (size_t i = 0; i < nx; ++i) {
    xs.push_back(b.Input(static_cast<int64_t>(i), inputs[i].dtype(), BatchShape(inputs[i]),
                         model.inputs()[i].name));
  }
  std::vector<ValueId> outs;
  std::vector<ValueId> regularization;
  FORNAX_RETURN_IF_ERROR(model.Call(b, xs, kind == StepKind::kTrain, &outs, &regularization));
  if (kind == StepKind::kPredict) {
    graph.set_outputs(outs);
    return graph;
  }
  ValueId total = kNoValue;
  ValueId batch = b.DimSize(xs[0], 0);
  for (size_t j = 0; j < state->heads.size(); ++j) {
    const OutputHead& head = state->heads[j];
    const Tensor& y = inputs[nx + j];
    ValueId label =
        b.Input(static_cast<int64_t>(nx + j), y.dtype(), BatchShape(y), head.name + "_true");
    if (head.loss) {
      ValueId loss = head.loss->Call(b, label, outs[j]);
      if (head.loss_tracker) head.loss_tracker->UpdateState(b, loss, batch);
      if (head.loss_weight != 1.0) loss = b.Mul(loss, b.Scalar(head.loss_weight));
      total = total == kNoValue ? loss : b.Add(total, loss);
    }
    for (const auto& metric : head.metrics) metric->Update(b, label, outs[j]);
    if (!b.ok()) {
      return WithContext(b.status(), absl::StrCat("loss/metrics of output '", head.name, "'"));
    }
  }
  for (ValueId r : regularization) total = b.Add(total, b.Cast(r, DType::kFloat32));
  state->loss_tracker->UpdateState(b, total, batch);

  if (kind == StepKind::kTrain) {
    // Every read of a trainable weight in the forward pass; a weight read
    // several times gets the sum of its gradients.
    std::vector<std::vector<ValueId>> reads(state->trainable.size());
    for (ValueId v = 0; v < graph.size(); ++v) {
      const Node& node = graph.node(v);
      if (node.op != Op::kVariable) continue;
      for (size_t k = 0; k < state->trainable.size(); ++k) {
        if (node.attrs.index == state->trainable[k]) reads[k].push_back(v);
      }
    }
    // Grouped by weight, so flat_grads below is consumed in the same order.
    std::vector<ValueId> wrt;
    for (const std::vector<ValueId>& r : reads) wrt.insert(wrt.end(), r.begin(), r.end());
    std::vector<ValueId> flat_grads;
    if (!wrt.empty()) {
      FORNAX_ASSIGN_OR_RETURN(flat_grads, Gradients(b, total, wrt));
    }
    std::vector<ValueId> grads(state->trainable.size(), kNoValue);
    size_t next = 0;
    for (size_t k = 0; k < reads.size(); ++k) {
      for (size_t r = 0; r < reads[k].size(); ++r, ++next) {
        grads[k] = grads[k] == kNoValue ? flat_grads[next] : b.Add(grads[k], flat_grads[next]);
      }
    }
    if (!state->trainable.empty()) FORNAX_RETURN_IF_ERROR(state->optimizer->Apply(b, grads));
  }
  graph.set_outputs({total});
  FORNAX_RETURN_IF_ERROR(WithContext(b.status(), "tracing the step"));
  return graph;
}

std::string Signature(StepKind kind, const std::vector<Tensor>& inputs) {
  std::string key = kind == StepKind::kTrain  ? "train"
                    : kind == StepKind::kEval ? "eval"
                                              : "predict";
  for (const Tensor& t : inputs) {
    absl::StrAppend(&key, "|", std::string(DTypeName(t.dtype())));
    for (int d = 1; d < t.shape().rank(); ++d) absl::StrAppend(&key, ",", t.shape().dim(d));
  }
  return key;
}

}  // namespace

absl::StatusOr<Executable*> GetPlan(const Model& model, Trainer::State* state, StepKind kind,
                                    const std::vector<Tensor>& inputs, int64_t batch,
                                    int* retraces) {
  const std::string key = Signature(kind, inputs);
  CachedPlan& cached = state->plans[key];
  if (cached.executable != nullptr && cached.max_batch >= batch) return cached.executable.get();
  FORNAX_ASSIGN_OR_RETURN(Graph graph, TraceStep(model, state, kind, inputs));
  CompileOptions options;
  options.backend = state->config.backend;
  options.max_batch = std::max(batch, cached.max_batch);
  FORNAX_ASSIGN_OR_RETURN(cached.executable, Compile(graph, options));
  cached.max_batch = options.max_batch;
  ++*retraces;
  return cached.executable.get();
}

}  // namespace fornax
