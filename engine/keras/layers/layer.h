// Layer: the base of every Keras layer Fornax understands.
//
// A layer has Keras's shape:
//   - it is constructed from its config (the "config" object of the JSON) by
//     a factory in the registry (engine/keras/layers/registry.h), which
//     validates arguments with Keras-style messages;
//   - Build(input specs) declares its weights (name, shape, initializer,
//     regularizer); Model::CreateVariables later materializes them in a
//     VariableStore under Keras-style paths ("dense_1/kernel");
//   - Call(Builder&, inputs, context) emits pure math as IR. Output shapes
//     come from emitting IR on symbolic inputs: the Builder checks shapes.
// Apply() wraps Call: it casts inputs the layer cannot take as they are (an
// int input to Dense becomes float32, as Keras's promotion does), runs Call
// and turns a Builder error into "layer 'dense_2' (Dense): ...".
// Thread-safety: Build mutates; after it, a layer is immutable apart from
// weight indices, which Model sets once.
#ifndef FORNAX_ENGINE_KERAS_LAYERS_LAYER_H_
#define FORNAX_ENGINE_KERAS_LAYERS_LAYER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/ir/builder.h"
#include "engine/keras/config_util.h"
#include "engine/keras/initializers.h"
#include "engine/keras/models/model.h"
#include "engine/keras/regularizers.h"

namespace fornax {

// One weight a layer declared in Build.
struct WeightSpec {
  std::string name;  // "kernel"
  std::string path;  // "dense_1/kernel"
  Shape shape;
  DType dtype = DType::kFloat32;
  bool trainable = true;
  std::shared_ptr<const Initializer> initializer;
  std::optional<Regularizer> regularizer;
  int64_t index = -1;  // VariableStore index, set by Model
};

struct CallContext {
  bool training = false;
  int64_t call_index = 0;  // which call of a shared layer this is (keys Dropout's stream)
};

// Fields every Keras layer config has.
struct LayerCommon {
  std::string class_name;
  std::string name;
  bool trainable = true;
  DType dtype = DType::kFloat32;
  std::optional<Regularizer> activity_regularizer;
};

class Layer {
 public:
  explicit Layer(LayerCommon common) : common_(std::move(common)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return common_.name; }
  const std::string& class_name() const { return common_.class_name; }
  bool trainable() const { return common_.trainable; }
  DType dtype() const { return common_.dtype; }
  const std::optional<Regularizer>& activity_regularizer() const {
    return common_.activity_regularizer;
  }
  // "layer 'dense_1'", the prefix of argument errors.
  std::string context() const { return "layer '" + name() + "'"; }

  // Keras's build(): declares weights for these inputs. Runs once; later
  // calls (a shared layer) are no-ops.
  absl::Status Build(std::span<const TensorSpec> inputs);
  bool built() const { return built_; }

  // Emits the layer on `inputs` (see the file comment). Errors are
  // InvalidArgument and name the layer and its class.
  absl::StatusOr<std::vector<ValueId>> Apply(Builder& b, std::span<const ValueId> inputs,
                                             const CallContext& ctx) const;

  std::vector<WeightSpec>& weights() { return weights_; }
  const std::vector<WeightSpec>& weights() const { return weights_; }
  int64_t CountParams(bool trainable_only = false) const;

 protected:
  virtual absl::Status BuildImpl(std::span<const TensorSpec> /*inputs*/) {
    return absl::OkStatus();
  }
  // Pure math. Shape problems are recorded in `b` (b.Fail or a failing op).
  virtual std::vector<ValueId> Call(Builder& b, std::span<const ValueId> inputs,
                                    const CallContext& ctx) const = 0;
  // Layers that take any dtype as it is (Embedding, Flatten, Reshape) say so;
  // the rest get non-float inputs cast to float32.
  virtual bool keeps_input_dtype() const { return false; }
  // How many inputs Call takes; -1 for "two or more" (merge layers).
  virtual int num_inputs() const { return 1; }

  // Declares a weight; returns its position in weights().
  int AddWeight(std::string name, Shape shape, std::shared_ptr<const Initializer> initializer,
                std::optional<Regularizer> regularizer = std::nullopt, bool trainable = true);
  // Emits a read of weight `i`.
  ValueId Weight(Builder& b, int i) const;
  // "layer 'x' (Class): MESSAGE" as InvalidArgument.
  absl::Status Error(const std::string& message) const;

 private:
  LayerCommon common_;
  bool built_ = false;
  std::vector<WeightSpec> weights_;
};

// Argument readers shared by the layer factories; errors name the argument.
absl::StatusOr<std::shared_ptr<const Initializer>> InitializerArg(const ConfigView& cfg,
                                                                  const std::string& key,
                                                                  const std::string& fallback);
absl::StatusOr<std::optional<Regularizer>> RegularizerArg(const ConfigView& cfg,
                                                          const std::string& key);
// `padding`: 'valid' (default) or 'same'.
absl::StatusOr<Padding> PaddingArg(const ConfigView& cfg);
// Refuses data_format='channels_first': Fornax is channels_last only.
absl::Status RequireChannelsLast(const ConfigView& cfg);
// Constraints are not supported: refuses a non-null `key`.
absl::Status RefuseConstraint(const ConfigView& cfg, const std::string& key);

// A layer with exactly one input and one output.
class UnaryLayer : public Layer {
 public:
  using Layer::Layer;

 protected:
  std::vector<ValueId> Call(Builder& b, std::span<const ValueId> inputs,
                            const CallContext& ctx) const final {
    return {CallOne(b, inputs[0], ctx)};
  }
  virtual ValueId CallOne(Builder& b, ValueId x, const CallContext& ctx) const = 0;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_LAYERS_LAYER_H_
