// Optimizer: Keras 3's optimizers, emitting their update as IR so it compiles
// into the train step (keras/src/optimizers/*.py, same config fields, same
// update math in float32, same variables in the same order).
//
// Build() creates the optimizer's variables in the VariableStore in Keras's
// order, which is what .keras archives store:
//   "<name>/iteration" (int64), "<name>/learning_rate" (float32; only when
//   the learning rate is a float, not a schedule), then the slots, named
//   "<name>/<weight_path with '/' -> '_'>_<slot>" (e.g.
//   "adam/dense_kernel_momentum"). Slots of one add_optimizer_variables call
//   are interleaved per weight (Adam: m0, v0, m1, v1, ...); separate calls
//   follow each other (RMSprop: all velocities, then all momentums).
// Apply() emits, as BaseOptimizer.apply does: gradient clipping (clipnorm,
// global_clipnorm or clipvalue), weight decay (var -= var * wd * lr), the
// per-variable update_step, and iteration += 1. Every update is an in-place
// Assign.
// With a schedule the rate is computed on the host: PrepareStep() writes
// schedule(iteration) into an extra float32 variable "<name>/scheduled_lr"
// (not one of keras_variables()) before every step.
// Thread-safety: none.
#ifndef FORNAX_ENGINE_KERAS_OPTIMIZERS_OPTIMIZER_H_
#define FORNAX_ENGINE_KERAS_OPTIMIZERS_OPTIMIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"
#include "engine/keras/schedules/learning_rate_schedule.h"
#include "engine/keras/variable_store.h"
#include "nlohmann/json.hpp"

namespace fornax {

class ConfigReader;

// The fields every Keras optimizer shares (BaseOptimizer.__init__).
struct OptimizerOptions {
  std::string name;
  double learning_rate = 0.001;
  std::unique_ptr<LearningRateSchedule> schedule;  // set: learning_rate unused
  std::optional<double> weight_decay;
  std::optional<double> clipnorm;
  std::optional<double> clipvalue;
  std::optional<double> global_clipnorm;
};

class Optimizer {
 public:
  // "adam", "sgd", "rmsprop", "adagrad", "adamw" or {"class_name": "Adam",
  // "config": {...}}; learning_rate may be a serialized schedule.
  static absl::StatusOr<std::unique_ptr<Optimizer>> FromConfig(const nlohmann::json& config);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return options_.name; }

  // Creates the optimizer's variables for the trainable weights `weights`
  // (store indices), in Keras's order.
  void Build(VariableStore* store, std::vector<int64_t> weights);
  // Emits the update for one step. `grads[i]` is the gradient of weights[i]
  // (kNoValue: that weight has no gradient and is left alone, as Keras).
  // REQUIRES: Build() ran.
  absl::Status Apply(Builder& b, std::span<const ValueId> grads);

  // Host side. Writes schedule(iteration) for the coming step (no-op for a
  // float learning rate).
  void PrepareStep(VariableStore* store) const;
  int64_t iterations(const VariableStore& store) const;
  // The current rate: schedule(iterations) or the learning_rate variable.
  double learning_rate(const VariableStore& store) const;
  // FailedPrecondition when the rate is a schedule (as Keras's TypeError).
  absl::Status set_learning_rate(VariableStore* store, double lr) const;
  // The optimizer's variables in Keras's order (what archives store).
  const std::vector<int64_t>& keras_variables() const { return keras_variables_; }

 protected:
  explicit Optimizer(OptimizerOptions options) : options_(std::move(options)) {}

  // Subclasses create their slots with AddSlots, in Keras's build() order.
  virtual void BuildSlots(VariableStore* store) = 0;
  // Keras's update_step for weight i: reads and assigns its slots, returns
  // the new value of the weight given its current value `var`.
  virtual ValueId UpdateStep(Builder& b, size_t i, ValueId grad, ValueId var, ValueId lr) = 0;

  // add_optimizer_variables(weights, names, initializer=constant(init)):
  // returns one index list per name, each with one slot per weight.
  std::vector<std::vector<int64_t>> AddSlots(VariableStore* store,
                                             const std::vector<std::string>& slot_names,
                                             float initial_value = 0.0f);
  // The value read of variable `index` (shape and dtype from the store).
  ValueId Read(Builder& b, int64_t index) const;
  // The iteration counter read at the start of Apply (int64 scalar).
  ValueId iteration() const { return iteration_value_; }

  const OptimizerOptions& options() const { return options_; }
  const std::vector<int64_t>& weights() const { return weights_; }
  const VariableStore* store() const { return store_; }

 private:
  std::vector<ValueId> ClipGradients(Builder& b, std::span<const ValueId> grads) const;

  OptimizerOptions options_;
  VariableStore* store_ = nullptr;
  std::vector<int64_t> weights_;
  std::vector<int64_t> keras_variables_;
  int64_t iteration_index_ = -1;
  int64_t learning_rate_index_ = -1;  // Keras's variable, or the scheduled one
  ValueId iteration_value_ = kNoValue;
};

// Parses the shared fields; `default_lr` is the class's default rate.
absl::StatusOr<OptimizerOptions> ParseOptimizerOptions(const ConfigReader& config,
                                                       const std::string& default_name,
                                                       double default_lr);

// One per file. Each reads its own fields from `config`.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeSgd(const ConfigReader& config,
                                                   OptimizerOptions options);
absl::StatusOr<std::unique_ptr<Optimizer>> MakeAdam(const ConfigReader& config,
                                                    OptimizerOptions options);
absl::StatusOr<std::unique_ptr<Optimizer>> MakeRmsprop(const ConfigReader& config,
                                                       OptimizerOptions options);
absl::StatusOr<std::unique_ptr<Optimizer>> MakeAdagrad(const ConfigReader& config,
                                                       OptimizerOptions options);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_OPTIMIZERS_OPTIMIZER_H_
