// What a job process (`fornax-worker run-job`) tells the worker, one JSON
// object per line on its events pipe (its stdout and stderr are the job's
// log). Kinds:
//   {"type": "step", "epoch", "step", "steps_per_epoch", "global_step",
//    "metrics": {...}, "step_seconds", "samples_per_second"}
//   {"type": "epoch", "epoch", "epochs", "metrics": {...}, "seconds", "retraces"}
//   {"type": "checkpoint", "path", "epoch", "global_step", "metrics": {...},
//    "final", "size_bytes", "seconds"}
//   {"type": "error", "message"}  (the engine's error, before a non-zero exit)
// Thread-safety: free functions.
#ifndef FORNAX_WORKER_CHILD_PROTOCOL_H_
#define FORNAX_WORKER_CHILD_PROTOCOL_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/job/job_runner.h"
#include "proto/fornax/v1/common.pb.h"

namespace fornax::worker {

std::string StepLine(const StepEvent& e);
std::string EpochLine(const EpochEvent& e);
std::string CheckpointLine(const CheckpointEvent& e);
std::string ErrorLine(const std::string& message);

struct ChildCheckpoint {
  std::string path;
  fornax::v1::CheckpointRecord record;  // epoch, global_step, metrics, final
  double seconds = 0;
};

// Exactly one member is set.
struct ChildMessage {
  std::optional<fornax::v1::StepMetrics> step;
  std::optional<fornax::v1::EpochMetrics> epoch;
  int retraces = 0;  // with epoch
  std::optional<ChildCheckpoint> checkpoint;
  std::optional<std::string> error;
};

// InvalidArgument for a line that is not one of the kinds above.
absl::StatusOr<ChildMessage> ParseChildLine(const std::string& line);

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_CHILD_PROTOCOL_H_
