// Checks a submitted JobSpec before it is stored: the job YAML parses as a
// `fornax train` job file, the model config builds a model, and every data
// path the YAML names is one of the spec's input files, its callbacks build,
// and the files they write stay in the job's directory. Errors are
// InvalidArgument naming the field ("spec.job_yaml: job.yaml: fit.epochs:
// ...", "spec.model_json: ..."). Whether the inputs are stored is the
// coordinator's check (FailedPrecondition).
// CheckModelArchive reads a .keras model input's stored bytes, so it runs
// where the artifact store is at hand (the Jobs service, before the job is
// stored).
// Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_SERVER_JOB_VALIDATION_H_
#define FORNAX_SERVER_JOB_VALIDATION_H_

#include "absl/status/status.h"
#include "proto/fornax/v1/common.pb.h"
#include "server/artifact_store.h"

namespace fornax::server {

absl::Status ValidateJobSpec(const v1::JobSpec& spec);

// Loads the job's model archive (the .keras or .h5 input its YAML names as
// the model) from its stored bytes as the worker's JobRunner will: config,
// compile_config under the job's compile section, weights and optimizer
// state. So an archive the engine refuses is refused now, not on every
// attempt. InvalidArgument naming the input and the reader's reason, which
// names the member ("spec.inputs[1]: inputs/<sha256>/m.keras: config.json:
// ..."). OK when there is nothing to load here: the YAML does not parse or
// names no archive input, or that input is not stored (ValidateJobSpec and
// the coordinator refuse those).
absl::Status CheckModelArchive(const v1::JobSpec& spec, ArtifactStore& artifacts);

}  // namespace fornax::server

#endif  // FORNAX_SERVER_JOB_VALIDATION_H_
