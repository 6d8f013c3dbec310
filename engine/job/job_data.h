// Loading a job's data (IDX, .npy, .npz) into engine Datasets, checked
// against the model it will train.
//
// Each source is read, cut to `limit`, cast, scaled and reshaped (in that
// order), then matched to the model: sources map to inputs/outputs by name or
// position, x is cast to the input's dtype, and every mismatch is an
// InvalidArgument naming the job file, the field, what the model expects and
// what the file holds: sample counts of x and y, per-sample shapes, integer
// labels in range for sparse losses. Missing files stay NotFound.
// Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_ENGINE_JOB_JOB_DATA_H_
#define FORNAX_ENGINE_JOB_JOB_DATA_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/job/job_file.h"
#include "engine/keras/models/model.h"
#include "engine/keras/models/trainer.h"
#include "engine/tensor/tensor.h"

namespace fornax {

struct JobData {
  Dataset train;
  std::optional<Dataset> validation;
  std::optional<Dataset> test;
};

// Every split the job names; a job without data.train is an InvalidArgument.
absl::StatusOr<JobData> LoadJobData(const JobSpec& job, const Model& model);

// One split, x and y in the order of `inputs` / `outputs` (a model's specs).
// `split_field` is "data.train", "data.validation" or "data.test".
absl::StatusOr<Dataset> LoadSplit(const JobSpec& job, const DataSplit& split,
                                  const std::string& split_field,
                                  const std::vector<TensorSpec>& inputs,
                                  const std::vector<TensorSpec>& outputs);

// One source with its transforms applied; `default_key` picks the .npz member
// when the source names none and the archive holds several.
absl::StatusOr<Tensor> LoadSource(const std::string& job_path, const DataSource& source,
                                  const std::string& default_key);

}  // namespace fornax

#endif  // FORNAX_ENGINE_JOB_JOB_DATA_H_
