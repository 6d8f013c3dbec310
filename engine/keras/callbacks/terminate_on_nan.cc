#include "engine/keras/callbacks/terminate_on_nan.h"

#include <cmath>
#include <cstdio>

namespace fornax {

absl::Status TerminateOnNaN::OnTrainBatchEnd(TrainingControl& control, int64_t batch,
                                             const Logs& logs) {
  auto it = logs.find("loss");
  if (it != logs.end() && !std::isfinite(it->second)) {
    std::printf("Batch %lld: Invalid loss, terminating training\n", static_cast<long long>(batch));
    control.stop_training = true;
  }
  return absl::OkStatus();
}

}  // namespace fornax
