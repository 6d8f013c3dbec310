// Job files: the YAML a user hands to `fornax train` (model, compile, fit,
// data, backend), parsed and validated into a JobSpec. docs/job-file.md is
// the user-facing reference for every field.
//
// Parsing only reads the job file itself: it checks types, ranges and unknown
// fields and resolves paths against the job file's directory. Loading the
// model and the data is job_data.h's work. Every error is InvalidArgument
// ("job.yaml: fit.batch_size: expected a positive integer, got 'abc'"),
// except a missing job file (NotFound).
// Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_ENGINE_JOB_JOB_FILE_H_
#define FORNAX_ENGINE_JOB_JOB_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/keras/models/trainer.h"
#include "engine/tensor/dtype.h"
#include "nlohmann/json.hpp"

namespace fornax {

// One array read from one file, with the per-source transforms applied in
// this order: limit, dtype, scale and offset (x * scale + offset), reshape.
struct DataSource {
  std::string field;             // "data.train.x" / "data.train.x.image", for messages
  std::string path;              // resolved against the job file's directory
  std::string npz_key;           // "file.npz:key"; empty: the archive's only member
  std::optional<int64_t> limit;  // keep the first N samples
  std::optional<DType> dtype;    // cast to
  std::optional<double> scale;   // multiply by (casts integers to float32 first)
  std::optional<double> offset;  // then add (casts integers to float32 first)
  std::optional<std::vector<int64_t>> reshape;  // per-sample shape, without the sample dim
};

// x or y of one split: one source, or one per model input/output.
struct DataSide {
  // name is empty for a single source or a positional list entry, else the
  // model input/output name it feeds.
  std::vector<std::pair<std::string, DataSource>> sources;
  bool by_name = false;  // written as a map from input/output names
};

struct DataSplit {
  DataSide x;
  DataSide y;
};

struct JobSpec {
  std::string path;        // the job file, as given (messages use it)
  std::string model_path;  // resolved
  // The compile section over CompileConfig's defaults. When the model is an
  // archive (IsModelArchive), the section is optional (loss included) and
  // only `compile_keys` override the archive's compile_config.
  CompileConfig compile;
  std::vector<std::string> compile_keys;  // the fields the section sets, e.g. {"loss"}
  FitConfig fit;
  uint64_t seed = 0;
  std::vector<nlohmann::json> callbacks;  // Keras configs: {"class_name": ..., "config": ...}
  std::optional<DataSplit> train;
  std::optional<DataSplit> validation;
  std::optional<DataSplit> test;
};

absl::StatusOr<JobSpec> ParseJobFile(const std::string& path);

// A service job's input is linked at inputs/<sha256>/<name> in its directory
// (<sha256> this input's, <name> one part): the coordinator and the worker
// both refuse any other path, since a link where the job writes (files/,
// output/) would let it rewrite the dataset cache file other jobs read.
// InvalidArgument "expected inputs/<sha256>/<name> ..., got 'PATH' (WHY)".
absl::Status CheckInputFilePath(absl::string_view path, absl::string_view sha256);

// Whether a job's `model:` is an archive (.keras, or a legacy Keras .h5)
// bringing weights, optimizer state and a compile_config, not a model JSON.
bool IsModelArchive(const std::string& model_path);

// Parses YAML text; `source` names it in messages and `base_dir` anchors
// relative paths.
absl::StatusOr<JobSpec> ParseJobYaml(const std::string& text, const std::string& source,
                                     const std::string& base_dir);

}  // namespace fornax

#endif  // FORNAX_ENGINE_JOB_JOB_FILE_H_
