// Content-addressed files (datasets, checkpoints) under
// <root>/sha256/<first two hex digits>/<64 hex digits>.
//
// A file is written to a temp file in <root>/tmp, hashed while it streams
// in, fsynced and renamed into place only when its sha256 and size match the
// ones declared up front; a mismatch (or a writer dropped early) deletes the
// temp file and stores nothing. So a stored path always holds exactly the
// bytes its name promises.
//
// Equal bytes are stored once for every record (dataset, checkpoint, job
// file) that names them, so publishing bytes and recording them must not
// interleave with dropping a record and removing bytes no record names:
// both happen under the sha256's lock (Commit returns it held; Lock takes
// it), or a delete could remove bytes an upload stored but has not yet
// recorded. The coordinator's sweep (bytes no record names: an upload
// refused at record time, a crash between rename and record) removes them
// under that lock too.
// Lock order: artifact locks before the coordinator's mutex, and a thread
// holding one stripe takes no other; several are taken together only
// through LockAll, in stripe order.
// Thread-safety: ArtifactStore is safe to share; each Writer is used by one
// thread at a time.
#ifndef FORNAX_SERVER_ARTIFACT_STORE_H_
#define FORNAX_SERVER_ARTIFACT_STORE_H_

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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
    // Renames the verified bytes into place and returns their sha256's lock,
    // held: record them before releasing it. DataLoss when the size or sha256
    // differs from the declared ones; the temp file is gone either way.
    absl::StatusOr<std::unique_lock<std::mutex>> Commit();
    int64_t bytes_written() const { return written_; }

   private:
    friend class ArtifactStore;
    Writer(ArtifactStore* store, std::string temp_path, std::string sha256, int64_t size, int fd);
    void Discard();
    // Checks the size and sha256 and fsyncs the temp file.
    absl::Status Verify();

    ArtifactStore* store_;
    std::string temp_path_;
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
  // The sha256's lock, for dropping a record and removing bytes no record
  // names any more. Striped: unrelated digests may share one.
  std::unique_lock<std::mutex> Lock(const std::string& sha256);
  // The locks of all `sha256s` together, for keeping several records'
  // bytes from being dropped: each stripe once (two digests may share one),
  // taken in stripe order so two callers cannot deadlock.
  std::vector<std::unique_lock<std::mutex>> LockAll(const std::vector<std::string>& sha256s);

  struct StoredFile {
    std::string sha256;
    int64_t size_bytes = 0;
  };
  // Every stored file, in no order; a name that is not its directory's
  // sha256 is no artifact and is left out.
  absl::StatusOr<std::vector<StoredFile>> List() const;

 private:
  explicit ArtifactStore(std::string root) : root_(std::move(root)) {}
  size_t Stripe(const std::string& sha256) const;
  std::string root_;
  std::array<std::mutex, 64> locks_;
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_ARTIFACT_STORE_H_
