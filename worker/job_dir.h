// A job's directory on the worker, as the coordinator's conventions lay it
// out: job.yaml (JobSpec.job_yaml), model.json (JobSpec.model_json) and
// inputs/<sha256>/<basename> for each input file, hard-linked (or, across
// file systems, symlinked) from the worker's dataset cache, so ParseJobFile
// on the directory finds everything where the client's rewritten YAML says.
// The cache (WORK_DIR/datasets/<sha256>) fills on demand through `fetch`;
// a download is written to a temporary file, checked against its sha256 and
// size, then renamed, so the cache never holds a partial or corrupt file.
// Thread-safety: free functions; concurrent calls may share a cache.
#ifndef FORNAX_WORKER_JOB_DIR_H_
#define FORNAX_WORKER_JOB_DIR_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/fornax/v1/common.pb.h"

namespace fornax::worker {

// Writes the file named by `sha256` to `dest` (Workers.DownloadDataset).
using FetchFn = std::function<absl::Status(const std::string& sha256, const std::string& dest)>;

// Writes `dir` (replacing what was there). InvalidArgument for an input path
// that is not inputs/<sha256>/<name> inside the directory or a malformed
// digest; DataLoss when a download does not match its digest.
absl::Status MaterializeJobDir(const fornax::v1::JobSpec& spec, const std::string& dir,
                               const std::string& cache_dir, const FetchFn& fetch);

// Fetches `file` into `cache_dir` unless it is there; returns its path.
absl::StatusOr<std::string> CachedInput(const fornax::v1::InputFile& file,
                                        const std::string& cache_dir, const FetchFn& fetch);

// Downloads with `fetch` into `dest` through a temporary file, verifying the
// digest (and the size when size_bytes > 0).
absl::Status FetchVerified(const std::string& sha256, int64_t size_bytes, const std::string& dest,
                           const FetchFn& fetch);

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_JOB_DIR_H_
