// Trainer internals shared by trainer.cc (the fit/evaluate/predict loops) and
// trainer_graphs.cc (tracing the train/eval/predict steps and caching their
// compiled plans). Not part of the engine's API.
#ifndef FORNAX_ENGINE_KERAS_MODELS_TRAINER_STATE_H_
#define FORNAX_ENGINE_KERAS_MODELS_TRAINER_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/losses/loss.h"
#include "engine/keras/metrics/metric.h"
#include "engine/keras/models/trainer.h"
#include "engine/keras/optimizers/optimizer.h"
#include "engine/runtime/executable.h"

namespace fornax {

// What compile() resolved for one model output.
struct OutputHead {
  std::string name;            // the output layer's name
  std::unique_ptr<Loss> loss;  // null: this output has no loss
  double loss_weight = 1.0;
  std::unique_ptr<Metric> loss_tracker;          // "<name>_loss" when several outputs have losses
  std::vector<std::unique_ptr<Metric>> metrics;  // logged as "<name>_<metric>" if multi-output
  DType label_dtype = DType::kFloat32;
  Shape label_shape;  // dim 0 is kBatch
};

enum class StepKind { kTrain, kEval, kPredict };

// A compiled plan and the largest batch its arena holds.
struct CachedPlan {
  std::unique_ptr<Executable> executable;
  int64_t max_batch = 0;
};

struct Trainer::State {
  CompileConfig config;
  uint64_t seed = 0;
  std::unique_ptr<Optimizer> optimizer;
  std::vector<int64_t> trainable;  // store indices of trainable weights
  // Resolved on the first call that sees labels (Keras builds its compiled
  // loss and metrics lazily too: "accuracy" depends on the label shape).
  bool heads_resolved = false;
  std::unique_ptr<Metric> loss_tracker;  // "loss"
  std::vector<OutputHead> heads;
  // Plan cache: (step kind, input signature) -> plan.
  std::map<std::string, CachedPlan> plans;
};

// Resolves losses, loss weights and metrics for the given label shapes and
// creates the metric variables. `label_shapes` has one shape per output.
absl::Status ResolveHeads(const Model& model, VariableStore* store, Trainer::State* state,
                          const std::vector<Shape>& label_shapes);

// The compiled plan for `kind` and the dtypes/shapes of `inputs` (x then y;
// y is absent for predict), compiled for at least `batch` rows. Traces and
// compiles on a cache miss or a larger batch, counting it in *retraces.
absl::StatusOr<Executable*> GetPlan(const Model& model, Trainer::State* state, StepKind kind,
                                    const std::vector<Tensor>& inputs, int64_t batch,
                                    int* retraces);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_MODELS_TRAINER_STATE_H_
