// Checks a submitted JobSpec before it is stored: the job YAML parses as a
// `fornax train` job file, the model config builds a model, and every data
// path the YAML names is one of the spec's input files, its callbacks build,
// and the files they write stay in the job's directory. Errors are
// InvalidArgument naming the field ("spec.job_yaml: job.yaml: fit.epochs:
// ...", "spec.model_json: ..."). Whether the inputs are stored is the
// coordinator's check (FailedPrecondition).
// Thread-safety: a free function, safe to call concurrently.
#ifndef FORNAX_SERVER_JOB_VALIDATION_H_
#define FORNAX_SERVER_JOB_VALIDATION_H_

#include "absl/status/status.h"
#include "proto/fornax/v1/common.pb.h"

namespace fornax::server {

absl::Status ValidateJobSpec(const v1::JobSpec& spec);

}  // namespace fornax::server

#endif  // FORNAX_SERVER_JOB_VALIDATION_H_
