// EpochPosition: where in training a checkpoint was taken and the training
// state beyond the weights and optimizer, so that a run resumed from it
// continues exactly (Trainer's FitConfig::initial_progress, the callbacks'
// ResumeFrom). Every checkpoint keeps it in its .keras archive's
// metadata.json under "fornax" (SaveKerasArchive's fornax_state):
//
//   {"epoch": 1, "step": 4, "steps_per_epoch": 8,
//    "metrics": {"metrics/loss/total": {"dtype": "float32", "shape": [], "bytes": ...}, ...},
//    "callbacks": [{"class_name": "EarlyStopping", "state": {"wait": 2, "best": "3fd3...", ...}},
//                  {"class_name": "TerminateOnNaN", "state": null}],
//    "stop_training": false}
//
// epoch is 0-based (the epoch in progress, = epochs completed), step the
// number of its batches trained (0 at an epoch's end), metrics the epoch's
// running metric variables (none at step 0), callbacks one entry per job
// callback (fit.callbacks, in order) with its State(), stop_training whether
// a callback had stopped training (EarlyStopping, at that epoch's end).
// Values are in callback_state.h's exact forms, so every one (NaN too) comes
// back bit-exact; in the archive a tensor's "bytes" refers to its place in
// the member fornax/tensors.bin (keras_archive.h). The sample order needs
// nothing more: it is keyed by (job seed, epoch), dropout by the optimizer
// iteration, which the archive holds, and so is a learning rate
// ReduceLROnPlateau set (the optimizer's learning_rate variable).
//
// Why the archive and not the coordinator's checkpoint record: the state
// belongs to the weights it was taken with and travels with them (to the
// worker that resumes, to `fornax pull`, to `run-job --resume` by hand); it
// is engine state the coordinator has no use for; and Keras never reads
// metadata.json, so the archive still loads in Keras 3
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
  nlohmann::json callbacks = nlohmann::json::array();  // {"class_name", "state"} each
  bool stop_training = false;
};

// The JSON above for `step` of `epoch`, with `store`'s metric variables
// (when step > 0), the job callbacks' `callbacks` entries and `stop_training`.
nlohmann::json EpochPositionJson(int epoch, int64_t step, int64_t steps_per_epoch,
                                 const VariableStore& store, nlohmann::json callbacks,
                                 bool stop_training);

// Reads EpochPositionJson's form back; nullopt for null (an archive that is
// no Fornax checkpoint, or one from before epoch-end checkpoints kept it).
// A missing "callbacks" or "stop_training" (a mid-epoch checkpoint from
// then) reads as none and false. Errors name `archive` and the field.
absl::StatusOr<std::optional<EpochPosition>> ParseEpochPosition(const nlohmann::json& state,
                                                                const std::string& archive);

}  // namespace fornax

#endif  // FORNAX_ENGINE_JOB_EPOCH_POSITION_H_
