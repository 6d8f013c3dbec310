// TerminateOnNaN: keras.callbacks.TerminateOnNaN. Stops training at once
// (after the current execution) when the running "loss" is NaN or infinite.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_TERMINATE_ON_NAN_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_TERMINATE_ON_NAN_H_

#include "engine/keras/callbacks/callback.h"

namespace fornax {

class TerminateOnNaN : public Callback {
 public:
  std::string_view class_name() const override { return "TerminateOnNaN"; }
  absl::Status OnTrainBatchEnd(TrainingControl& control, int64_t batch, const Logs& logs) override;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_TERMINATE_ON_NAN_H_
