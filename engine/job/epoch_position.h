// EpochPosition: where in an epoch a checkpoint was taken, so that a run
// resumed from it continues exactly (Trainer's FitConfig::initial_progress).
// A checkpoint written mid-epoch keeps it in its .keras archive's
// metadata.json under "fornax" (SaveKerasArchive's fornax_state):
//
//   {"epoch": 1, "step": 4, "steps_per_epoch": 8,
//    "metrics": {"metrics/loss/total": {"dtype": "float32", "shape": [], "hex": "9a99993f"}, ...}}
//
// epoch is 0-based (the epoch in progress, = epochs completed), step the
// number of its batches trained, metrics the epoch's running metric
// variables with their raw bytes in hex, so every value (NaN too) comes back
// bit-exact. The sample order needs nothing more: it is keyed by (job seed,
// epoch), dropout by the optimizer iteration, which the archive holds.
//
// Why the archive and not the coordinator's checkpoint record: the position
// belongs to the weights it was taken with and travels with them (to the
// worker that resumes, to `fornax pull`, to `run-job --resume` by hand); the
// metric sums are engine state the coordinator has no use for; and Keras
// never reads metadata.json, so the archive still loads in Keras 3
// (tests/interop/keras_loads_mid_epoch_checkpoint.py).
#ifndef FORNAX_ENGINE_JOB_EPOCH_POSITION_H_
#define FORNAX_ENGINE_JOB_EPOCH_POSITION_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/keras/models/trainer.h"
#include "engine/keras/variable_store.h"
#include "nlohmann/json.hpp"

namespace fornax {

struct EpochPosition {
  int epoch = 0;
  EpochProgress progress;
};

// The JSON above for `step` of `epoch`, with `store`'s metric variables.
nlohmann::json EpochPositionJson(int epoch, int64_t step, int64_t steps_per_epoch,
                                 const VariableStore& store);

// Reads EpochPositionJson's form back; nullopt for null (a checkpoint taken
// at an epoch's end, or not by Fornax). Errors name `archive` and the field.
absl::StatusOr<std::optional<EpochPosition>> ParseEpochPosition(const nlohmann::json& state,
                                                                const std::string& archive);

}  // namespace fornax

#endif  // FORNAX_ENGINE_JOB_EPOCH_POSITION_H_
