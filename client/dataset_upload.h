// Uploads local files to the coordinator's content-addressed dataset store
// (Datasets.UploadDataset: a header, then the bytes in chunks).
// Thread-safety: free functions; each call uses its own gRPC call.
#ifndef FORNAX_CLIENT_DATASET_UPLOAD_H_
#define FORNAX_CLIENT_DATASET_UPLOAD_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/job_bundle.h"
#include "client/service_client.h"
#include "engine/data/sha256.h"
#include "proto/fornax/v1/datasets.pb.h"

namespace fornax {

// Streams the file; the coordinator re-hashes it and answers with the
// stored Dataset (already_stored when it had it). DataLoss when the file
// changed while it was read.
absl::StatusOr<v1::Dataset> UploadFile(ServiceClient& client, const std::string& local_path,
                                       const std::string& name, const FileDigest& digest);

// Uploads each file the store does not have yet (one ListDatasets first) and
// prints one line per file to `log`.
absl::Status UploadMissing(ServiceClient& client, const std::vector<BundledFile>& files,
                           std::ostream& log);

}  // namespace fornax

#endif  // FORNAX_CLIENT_DATASET_UPLOAD_H_
