// CallbackFromConfig: a callback from a job file entry, in Keras's serialized
// form {"class_name": "EarlyStopping", "config": {"monitor": "val_loss",
// "patience": 2}}; the short form {"EarlyStopping": {...}} is accepted too.
// Classes: EarlyStopping, TerminateOnNaN, ReduceLROnPlateau, CSVLogger (its
// config needs "filename"). Fields and defaults are Keras's; "verbose" is
// accepted and ignored. Unknown classes or fields are InvalidArgument.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_FROM_CONFIG_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_FROM_CONFIG_H_

#include <memory>

#include "absl/status/statusor.h"
#include "engine/keras/callbacks/callback.h"
#include "nlohmann/json.hpp"

namespace fornax {

absl::StatusOr<std::unique_ptr<Callback>> CallbackFromConfig(const nlohmann::json& config);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_CALLBACK_FROM_CONFIG_H_
