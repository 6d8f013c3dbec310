// ModelCheckpoint: Keras's keras.callbacks.ModelCheckpoint for full-model
// .keras archives (keras/src/callbacks/model_checkpoint.py): at the end of
// each epoch, saves the model, weights and optimizer state with
// SaveKerasArchive, or with save_best_only only when `monitor` improved
// (mode auto/min/max as Keras). `filepath` may hold Keras's format fields:
// "{epoch}" / "{epoch:02d}" (1-based, as Keras) and "{<log name>}" /
// "{<log name>:.4f}" (e.g. "ckpt-{epoch:02d}-{val_loss:.2f}.keras").
// save_weights_only and save_freq other than "epoch" are refused.
// State(): the best value so far, so a resumed save_best_only run does not
// save an epoch worse than one saved before it stopped.
// Thread-safety: none.
#ifndef FORNAX_ENGINE_ARCHIVE_MODEL_CHECKPOINT_H_
#define FORNAX_ENGINE_ARCHIVE_MODEL_CHECKPOINT_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/keras/callbacks/monitor_callback.h"
#include "nlohmann/json.hpp"

namespace fornax {

class ModelCheckpoint : public MonitorCallback {
 public:
  // `entry` is a job's callback entry: {"class_name": "ModelCheckpoint",
  // "config": {...}} or {"ModelCheckpoint": {...}}. Returns null when the
  // entry is another callback.
  static absl::StatusOr<std::unique_ptr<ModelCheckpoint>> FromJobEntry(const nlohmann::json& entry);

  std::string_view class_name() const override { return "ModelCheckpoint"; }
  std::vector<WrittenFile> WrittenFiles() const override { return {{"filepath", filepath_}}; }

  absl::Status OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) override;
  nlohmann::json State() const override;
  absl::Status ResumeFrom(const nlohmann::json& state) override;

  // filepath with the format fields filled in (exposed for tests).
  static absl::StatusOr<std::string> FormatPath(const std::string& pattern, int epoch,
                                                const Logs& logs);

 private:
  ModelCheckpoint(std::string filepath, std::string monitor, std::string mode, bool save_best_only,
                  std::optional<double> initial_value_threshold)
      : MonitorCallback(std::move(monitor), std::move(mode), 0.0),
        filepath_(std::move(filepath)),
        save_best_only_(save_best_only),
        best_(initial_value_threshold) {}
  std::string filepath_;
  bool save_best_only_;
  std::optional<double> best_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_MODEL_CHECKPOINT_H_
