// CSVLogger: keras.callbacks.CSVLogger. Streams one row per epoch to a CSV
// file, byte-compatible with Keras's: header "epoch" then the sorted log keys
// (plus val_<key> columns when the first epoch has no validation keys),
// values as Python's repr of a float, "NA" for a missing value, "\r\n" line
// ends (the csv module's excel dialect). append=true keeps existing rows and
// writes no header when the file already has one.
// State(): the file as this run made it, so a resumed run rewrites it and
// ends with the file an uninterrupted run writes, even on a machine where
// the file is not (the rows travel with the checkpoint): how many bytes it
// kept from before the run (append; none: it wrote a header), the columns
// and the rows written so far. On resume the file is cut back to those kept
// bytes (rows for epochs after the checkpoint, trained again, go) and the
// header and rows follow; where it is shorter than that (gone with another
// machine) the header and rows are the whole file. A checkpoint without
// the state (from before) starts the file afresh, as before.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_CSV_LOGGER_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_CSV_LOGGER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/keras/callbacks/callback.h"

namespace fornax {

class CsvLogger : public Callback {
 public:
  CsvLogger(std::string filename, std::string separator = ",", bool append = false)
      : filename_(std::move(filename)), separator_(std::move(separator)), append_(append) {}
  ~CsvLogger() override;

  std::string_view class_name() const override { return "CSVLogger"; }
  std::vector<WrittenFile> WrittenFiles() const override { return {{"filename", filename_}}; }

  absl::Status OnTrainBegin(TrainingControl& control) override;
  absl::Status OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) override;
  absl::Status OnTrainEnd(TrainingControl& control, const Logs& logs) override;
  nlohmann::json State() const override;
  absl::Status ResumeFrom(const nlohmann::json& state) override;

 private:
  // Opens the file as State() described it and writes its header and rows.
  absl::Status Reopen();
  std::string Header() const;
  absl::Status OpenError() const;

  std::string filename_;
  std::string separator_;
  bool append_;
  // Of the file before this run (append); 0: this run writes the header.
  uint64_t kept_bytes_ = 0;
  std::vector<std::string> keys_;  // empty until the first epoch
  bool have_keys_ = false;
  std::string rows_;      // written so far, for State()
  bool resumed_ = false;  // ResumeFrom set the state for OnTrainBegin
  std::FILE* file_ = nullptr;
};

// Python's repr(float): the shortest digits that round-trip, positional for
// exponents in [-4, 16), else d.ddde+XX; "nan", "inf", "-inf".
std::string PythonFloatRepr(double value);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_CSV_LOGGER_H_
