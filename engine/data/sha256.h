// SHA-256 digests (lowercase hex) for the content-addressed dataset and
// checkpoint stores: the client and the worker hash what they upload and verify what they
// downloads. OpenSSL does the hashing.
// Thread-safety: a Sha256 instance is used by one thread; the free function
// is safe to call concurrently.
#ifndef FORNAX_ENGINE_DATA_SHA256_H_
#define FORNAX_ENGINE_DATA_SHA256_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fornax {

// Incremental hashing: Update with each chunk, then HexDigest once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view data);
  std::string HexDigest();  // ends the hash; call once

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct FileDigest {
  std::string sha256;
  int64_t size_bytes = 0;
};

// NotFound when the file cannot be opened.
absl::StatusOr<FileDigest> Sha256File(const std::string& path);

}  // namespace fornax

#endif  // FORNAX_ENGINE_DATA_SHA256_H_
