// Job bundling for `fornax submit`: turns a job file on this machine into a
// self-contained fornax.v1.JobSpec the coordinator can hand to any worker.
//
// The job is parsed with ParseJobFile first (so a bad job fails here, with
// the engine's message). Then every data file the YAML names is hashed and
// its path rewritten to "inputs/<sha256>/<basename>" (a "file.npz:key" keeps
// its ":key"); a JSON model is read into JobSpec.model_json and `model:`
// becomes "model.json"; a .keras model is an input like the data. The worker
// materializes exactly those paths next to job.yaml, so the rewritten YAML
// parses there as it did here.
// Thread-safety: free function, safe to call concurrently.
#ifndef FORNAX_CLIENT_JOB_BUNDLE_H_
#define FORNAX_CLIENT_JOB_BUNDLE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/data/sha256.h"
#include "proto/fornax/v1/common.pb.h"

namespace fornax {

// A local file the job needs, to be uploaded to the dataset store.
struct BundledFile {
  std::string local_path;  // as resolved against the job file's directory
  std::string name;        // its basename, the dataset's name
  FileDigest digest;
  std::string input_path;  // "inputs/<sha256>/<basename>"
};

struct JobBundle {
  // job_yaml, model_json and inputs are set; name, priority, resources and
  // the rest are the caller's.
  v1::JobSpec spec;
  std::vector<BundledFile> files;  // one per distinct input path
};

absl::StatusOr<JobBundle> BundleJob(const std::string& job_path);

}  // namespace fornax

#endif  // FORNAX_CLIENT_JOB_BUNDLE_H_
