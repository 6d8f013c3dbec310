// ProgressBar: Keras 3's fit progress display (keras.utils.Progbar driven by
// ProgbarLogger), as a fornax::Callback.
//
// On a terminal (dynamic) it redraws one line in place per epoch:
//   Epoch 1/5
//   469/469 ━━━━━━━━━━━━━━━━━━━━ 2s 4ms/step - accuracy: 0.8512 - loss: 0.4101
// with Keras's colours, ETA while running, then elapsed time and the val_
// metrics at epoch end. Otherwise (a pipe or file) it prints one plain line
// per epoch, Keras's verbose=2 form:
//   469/469 - 2s - 4ms/step - accuracy: 0.8512 - loss: 0.4101
// Values are shown as the trainer reports them (Keras 3 metrics are already
// running means): 4 decimals, or %.4e when |v| <= 1e-3; training metrics in
// name order, then the val_ ones.
// Thread-safety: none; one instance per fit.
#ifndef FORNAX_CLIENT_PROGRESS_BAR_H_
#define FORNAX_CLIENT_PROGRESS_BAR_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "engine/keras/callbacks/callback.h"

namespace fornax {

class ProgressBar : public Callback {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic
  // `dynamic`: redraw in place (a terminal). `clock` is injectable for tests.
  ProgressBar(std::ostream& out, bool dynamic, Clock clock = SteadySeconds);

  absl::Status OnTrainBegin(TrainingControl& control) override;
  absl::Status OnEpochBegin(TrainingControl& control, int epoch) override;
  absl::Status OnTrainBatchEnd(TrainingControl& control, int64_t batch, const Logs& logs) override;
  absl::Status OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) override;

  // Drives a bar directly (evaluate): Start, then Update per step, then
  // Update(target, logs, /*finalize=*/true).
  void Start(int64_t target);
  void Update(int64_t current, const Logs& logs, bool finalize);

  static double SteadySeconds();

 private:
  double EstimateStepDuration(int64_t current, double now);
  std::vector<std::string> OrderedKeys(const Logs& logs) const;

  std::ostream& out_;
  bool dynamic_;
  Clock clock_;
  int epochs_ = 1;
  int64_t target_ = 0;
  double start_ = 0;
  double last_update_ = -1e9;
  double time_after_first_step_ = -1;
  size_t prev_width_ = 0;
};

}  // namespace fornax

#endif  // FORNAX_CLIENT_PROGRESS_BAR_H_
