// Renders a job's event stream the way `fornax train` prints a local run:
// Keras-style progress bars rebuilt from step and epoch events, plus one line
// per state change, log line and checkpoint. The bars (ProgressBar) run on
// the job's own clock: the step times and epoch durations the worker
// measured, not when events arrive, so a replay shows the run's real speed
// and ETA.
//
//   [queued] waiting: needs 1 gpu, 0 free
//   [running] on w-1 (attempt 0)
//   Epoch 1/5
//   469/469 - 2s - 4ms/step - accuracy: 0.8512 - loss: 0.4101
//   [checkpoint] ck-1: epoch 1, step 469, 2.1 MiB
//
// A resumed attempt restarts its epoch's bar. In dynamic (terminal) mode a
// line that arrives while a bar is drawn first ends the bar's line.
// Thread-safety: none; one instance per stream.
#ifndef FORNAX_CLIENT_EVENT_RENDERER_H_
#define FORNAX_CLIENT_EVENT_RENDERER_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "client/progress_bar.h"
#include "proto/fornax/v1/common.pb.h"

namespace fornax {

class EventRenderer {
 public:
  // `epochs`: the job's fit.epochs (for "Epoch 3/5"); see EpochsOfJobYaml.
  EventRenderer(std::ostream& out, bool dynamic, int epochs);

  void Render(const v1::JobEvent& event);

  // The last state change seen (final once the job ended).
  const std::optional<v1::StateChange>& last_state() const { return last_state_; }

 private:
  void RenderStep(const v1::StepMetrics& step);
  void RenderEpoch(const v1::EpochMetrics& epoch);
  void StartBar(int epoch, int64_t steps_per_epoch);
  void PrintLine(const std::string& line);  // ends an open bar line first

  std::ostream& out_;
  bool dynamic_;
  double now_ = 0;  // seconds into the current epoch: ProgressBar's clock
  ProgressBar bar_;
  TrainingControl control_;
  int bar_epoch_ = -1;  // the epoch whose bar is open; -1: none
  int64_t bar_step_ = 0;
  bool line_open_ = false;  // dynamic mode: a bar is drawn without its newline
  std::optional<v1::StateChange> last_state_;
};

// fit.epochs of a job's YAML (1 when unset or unreadable: the renderer then
// prints no "Epoch i/n" headers).
int EpochsOfJobYaml(const std::string& job_yaml);

// "queued", "running", ...
std::string JobStateName(v1::JobState state);

// "failed: exit code 2" for a state and its reason, without saying the
// state twice when the reason starts with it ("failed: exit code 2" stays).
std::string DescribeState(v1::JobState state, const std::string& reason);

}  // namespace fornax

#endif  // FORNAX_CLIENT_EVENT_RENDERER_H_
