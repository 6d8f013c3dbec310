// CSVLogger: keras.callbacks.CSVLogger. Streams one row per epoch to a CSV
// file, byte-compatible with Keras's: header "epoch" then the sorted log keys
// (plus val_<key> columns when the first epoch has no validation keys),
// values as Python's repr of a float, "NA" for a missing value, "\r\n" line
// ends (the csv module's excel dialect). append=true keeps existing rows and
// writes no header when the file already has one.
#ifndef FORNAX_ENGINE_KERAS_CALLBACKS_CSV_LOGGER_H_
#define FORNAX_ENGINE_KERAS_CALLBACKS_CSV_LOGGER_H_

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

  absl::Status OnTrainBegin(TrainingControl& control) override;
  absl::Status OnEpochEnd(TrainingControl& control, int epoch, const Logs& logs) override;
  absl::Status OnTrainEnd(TrainingControl& control, const Logs& logs) override;

 private:
  std::string filename_;
  std::string separator_;
  bool append_;
  bool write_header_ = true;
  std::vector<std::string> keys_;  // empty until the first epoch
  bool have_keys_ = false;
  std::FILE* file_ = nullptr;
};

// Python's repr(float): the shortest digits that round-trip, positional for
// exponents in [-4, 16), else d.ddde+XX; "nan", "inf", "-inf".
std::string PythonFloatRepr(double value);

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_CALLBACKS_CSV_LOGGER_H_
