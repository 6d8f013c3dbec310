// Small file helpers shared by the data readers: existence checks with the
// messages users see, whole-file reads, and the check that a relative path
// stays inside its directory (job dirs, archives, uploaded job files).
// Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_ENGINE_DATA_FILE_UTIL_H_
#define FORNAX_ENGINE_DATA_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fornax {

// OK when `path` names a readable regular file; NotFound ("PATH: no such
// file") or InvalidArgument ("PATH: is a directory") otherwise.
absl::Status CheckReadableFile(const std::string& path);

// The whole contents of `path`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes `contents` to `path`, replacing it.
absl::Status WriteStringToFile(const std::string& path, const std::string& contents);

// OK when `path` is relative and stays inside the directory it is resolved
// against: not empty, not absolute, '/'-separated parts none of which is
// empty, '.' or '..', no backslash (a separator on Windows and in some zip
// writers) and no NUL or other control character (the path is printed).
// Otherwise InvalidArgument whose message is only what is wrong ("has a '..'
// part"); the caller adds which field and the path.
absl::Status CheckRelativePathInside(absl::string_view path);

}  // namespace fornax

#endif  // FORNAX_ENGINE_DATA_FILE_UTIL_H_
