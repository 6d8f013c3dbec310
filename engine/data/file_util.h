// Small file helpers shared by the data readers: existence checks with the
// messages users see, and whole-file reads.
// Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_ENGINE_DATA_FILE_UTIL_H_
#define FORNAX_ENGINE_DATA_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fornax {

// OK when `path` names a readable regular file; NotFound ("PATH: no such
// file") or InvalidArgument ("PATH: is a directory") otherwise.
absl::Status CheckReadableFile(const std::string& path);

// The whole contents of `path`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes `contents` to `path`, replacing it.
absl::Status WriteStringToFile(const std::string& path, const std::string& contents);

}  // namespace fornax

#endif  // FORNAX_ENGINE_DATA_FILE_UTIL_H_
