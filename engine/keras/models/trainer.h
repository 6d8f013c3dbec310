// Trainer: Keras's compile + fit/evaluate/predict for a Model, on the
// compiled engine.
//
// Create() is model.compile(): it resolves the optimizer, losses and metrics
// from Keras's serialized configs (unknown names fail here). Losses and
// metrics are bound to the labels on the first Fit/Evaluate, as Keras builds
// them lazily ("accuracy" and "crossentropy" depend on the label shape).
// The first Fit/Evaluate/Predict traces the model into one graph per mode
// (train step = forward + loss + metric update + gradients + optimizer
// update), compiles it, and caches the plan by input signature (mode, dtypes
// and non-batch dims of x and y); a batch up to the plan's capacity reuses it,
// so a short last batch never retraces. retrace_count() counts every trace.
//
// Data: x arrays are cast on the host to the model inputs' dtypes, labels to
// what the loss wants (int32 class indices for sparse losses, else float32).
// validation_split takes the last fraction of the samples before shuffling,
// as Keras. Shuffling is a Fisher-Yates permutation per epoch keyed by (seed,
// epoch) with SplitMix64, the same on every platform.
// Logs use Keras's names: "loss", metric names ("accuracy", "mae"),
// "<output>_loss" and "<output>_<metric>" for several outputs, "val_" for
// validation; History matches keras.callbacks.History.
// steps_per_execution N runs N steps per host round trip (batch callbacks
// once per execution, with the last step's index) for any N >= 1; the result
// is bit-identical for every N because randomness is keyed by (seed, optimizer
// iteration, op) and a learning-rate schedule is evaluated per step.
// For the same reasons a fit resumed from a checkpoint's weights and
// optimizer state at initial_epoch (and initial_progress, for a checkpoint
// taken mid-epoch) continues exactly as if it had never stopped.
// Thread-safety: none.
#ifndef FORNAX_ENGINE_KERAS_MODELS_TRAINER_H_
#define FORNAX_ENGINE_KERAS_MODELS_TRAINER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/callbacks/callback.h"
#include "engine/keras/models/model.h"
#include "engine/keras/variable_store.h"
#include "engine/tensor/tensor.h"
#include "nlohmann/json.hpp"

namespace fornax {

class Optimizer;

// model.compile(...) arguments, in Keras's serialized forms: optimizer is a
// string ("adam") or {"class_name": "Adam", "config": {...}}; loss a string,
// a config, a list (one per output) or a dict keyed by output name; likewise
// loss_weights and metrics.
struct CompileConfig {
  nlohmann::json optimizer = "rmsprop";
  nlohmann::json loss;
  nlohmann::json loss_weights;
  nlohmann::json metrics;
  int64_t steps_per_execution = 1;
  std::string backend = "cpu";
};

// Where fit resumes inside its initial_epoch (a checkpoint taken mid-epoch):
// the first `step` batches of that epoch's sample order were trained already
// and are skipped, and `metrics` holds the epoch's running metric variables
// then (store path -> value, e.g. "metrics/loss/total"), so the epoch's logs
// cover all of its steps. Metric variables not in `metrics` start from zero
// (with `metrics` empty the epoch's logs cover only the resumed steps).
struct EpochProgress {
  int64_t step = 0;             // 0: the epoch's start
  int64_t steps_per_epoch = 0;  // what `step` counts in; must be this fit's
  std::map<std::string, Tensor> metrics;
};

// model.fit(...) arguments.
struct FitConfig {
  int epochs = 1;
  int64_t batch_size = 32;
  bool shuffle = true;
  double validation_split = 0.0;  // the last fraction of the training data, as Keras
  int initial_epoch = 0;
  EpochProgress initial_progress;  // within initial_epoch
};

// One tensor per model input / output, in the model's order; dim 0 is samples.
struct Dataset {
  std::vector<Tensor> x;
  std::vector<Tensor> y;
  int64_t num_samples() const { return x.empty() ? 0 : x[0].shape().dim(0); }
};

// Keras's History.history: metric name -> one value per epoch.
using History = std::map<std::string, std::vector<double>>;

class Trainer {
 public:
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(std::unique_ptr<Model> model,
                                                         CompileConfig config, uint64_t seed);
  ~Trainer();

  absl::StatusOr<History> Fit(const Dataset& train, const Dataset* validation,
                              const FitConfig& config, const std::vector<Callback*>& callbacks);
  absl::StatusOr<Logs> Evaluate(const Dataset& data, int64_t batch_size,
                                const std::vector<Callback*>& callbacks = {});
  absl::StatusOr<std::vector<Tensor>> Predict(const std::vector<Tensor>& x, int64_t batch_size);

  const Model& model() const { return *model_; }
  VariableStore& variables() { return variables_; }
  int64_t iterations() const;  // optimizer steps taken
  // The compiled optimizer (its keras_variables() are what archives store).
  const Optimizer& optimizer() const;
  const CompileConfig& compile_config() const;
  int retrace_count() const { return retrace_count_; }
  double learning_rate() const;  // current value (after schedules)
  // ReduceLROnPlateau. FailedPrecondition when the rate is a schedule.
  absl::Status set_learning_rate(double lr);
  // The compiled train step: ops after fusion and arena bytes.
  absl::StatusOr<std::string> TrainPlanString(int64_t batch_size);
  // The bytes of the arena (every intermediate value) of the predict plan
  // that Predict would run for `batch_size` rows: compiled for that many, or
  // the cached plan when one compiled for more exists. The model's inputs
  // must have fixed non-batch dims. Compiles and caches the plan as Predict
  // would.
  absl::StatusOr<size_t> PredictArenaBytes(int64_t batch_size);

  // Optimizer, losses, metrics and plan cache (trainer_state.h; internal).
  struct State;

 private:
  Trainer() = default;
  // Evaluate's loop; Fit runs it for validation with its own callbacks.
  absl::StatusOr<Logs> RunEvaluation(const Dataset& data, int64_t batch_size,
                                     const std::vector<Callback*>& callbacks,
                                     TrainingControl& control);
  std::unique_ptr<Model> model_;
  VariableStore variables_;
  int retrace_count_ = 0;
  std::unique_ptr<State> state_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_MODELS_TRAINER_H_
