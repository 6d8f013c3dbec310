// SHA-256 (lowercase hex) of downloaded datasets and uploaded checkpoints,
// which the coordinator stores content-addressed. OpenSSL does the hashing.
// Thread-safety: a Sha256 is used by one thread; Sha256File is reentrant.
#ifndef FORNAX_WORKER_SHA256_H_
#define FORNAX_WORKER_SHA256_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fornax::worker {

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

// NotFound when the file cannot be read.
absl::StatusOr<std::string> Sha256File(const std::string& path);

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_SHA256_H_
