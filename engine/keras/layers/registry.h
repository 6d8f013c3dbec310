// The layer registry: Keras class_name -> factory.
//
// CreateLayer turns one serialized layer ({"class_name": "Dense", "config":
// {...}}) into a Layer, refusing unknown classes and anything that would run
// user code (Lambda, custom registered layers, wrappers of foreign modules).
// Each layer's factory lives in its own file next to the layer; the table is
// explicit (not static registration) so linking a static library never
// drops a layer.
// Thread-safety: the registry is immutable.
#ifndef FORNAX_ENGINE_KERAS_LAYERS_REGISTRY_H_
#define FORNAX_ENGINE_KERAS_LAYERS_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/config_util.h"
#include "engine/keras/layers/layer.h"
#include "nlohmann/json.hpp"

namespace fornax {

using LayerFactory = absl::StatusOr<std::unique_ptr<Layer>> (*)(const ConfigView& config,
                                                                LayerCommon common);

// Creates the layer `layer_json` describes. InvalidArgument names the layer.
absl::StatusOr<std::unique_ptr<Layer>> CreateLayer(const nlohmann::json& layer_json);

// Class names CreateLayer accepts, sorted (InputLayer is the models' own).
std::vector<std::string> SupportedLayerClasses();

// Factories, one per layer file.
absl::StatusOr<std::unique_ptr<Layer>> MakeDense(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeActivation(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeReLU(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeLeakyReLU(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeSoftmax(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeDropout(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeFlatten(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeReshape(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeRescaling(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeMerge(const ConfigView&,
                                                 LayerCommon);  // Add/Subtract/Multiply
absl::StatusOr<std::unique_ptr<Layer>> MakeConcatenate(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeConv2D(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakePooling2D(const ConfigView&,
                                                     LayerCommon);  // Max/Average
absl::StatusOr<std::unique_ptr<Layer>> MakeGlobalAveragePooling2D(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeBatchNormalization(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeLayerNormalization(const ConfigView&, LayerCommon);
absl::StatusOr<std::unique_ptr<Layer>> MakeEmbedding(const ConfigView&, LayerCommon);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_LAYERS_REGISTRY_H_
