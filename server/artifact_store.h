// Content-addressed files (datasets, checkpoints) under
// <root>/sha256/<first two hex digits>/<64 hex digits>.
//
// A file is written to a temp file in <root>/tmp, hashed while it streams
// in, fsynced and renamed into place only when its sha256 and size match the
// ones declared up front; a mismatch (or a writer dropped early) deletes the
// temp file and stores nothing. So a stored path always holds exactly the
// bytes its name promises.
// Thread-safety: ArtifactStore is safe to share; each Writer is used by one
// thread at a time.
#ifndef FORNAX_SERVER_ARTIFACT_STORE_H_
#define FORNAX_SERVER_ARTIFACT_STORE_H_

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fornax::server {

// True for 64 lowercase hex digits.
bool IsSha256Hex(absl::string_view text);

class ArtifactStore {
 public:
  // Creates <root>/sha256 and <root>/tmp when missing.
  static absl::StatusOr<std::unique_ptr<ArtifactStore>> Open(const std::string& root);

  class Writer {
   public:
    ~Writer();  // deletes the temp file unless committed
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // InvalidArgument once more bytes arrive than were declared.
    absl::Status Append(absl::string_view data);
    // DataLoss when the size or sha256 differs from the declared ones; the
    // temp file is gone either way.
    absl::Status Commit();
    int64_t bytes_written() const { return written_; }

   private:
    friend class ArtifactStore;
    Writer(std::string temp_path, std::string final_path, std::string sha256, int64_t size, int fd);
    void Discard();

    std::string temp_path_;
    std::string final_path_;
    std::string expected_sha256_;
    int64_t expected_size_;
    int fd_;
    int64_t written_ = 0;
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> hash_;
    bool done_ = false;
  };

  // A writer for a file whose sha256 (lowercase hex) and size are declared.
  absl::StatusOr<std::unique_ptr<Writer>> Create(const std::string& sha256, int64_t size_bytes);

  std::string PathFor(const std::string& sha256) const;
  bool Contains(const std::string& sha256) const;
  absl::Status Remove(const std::string& sha256);

 private:
  explicit ArtifactStore(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_ARTIFACT_STORE_H_
