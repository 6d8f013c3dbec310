#include "server/artifact_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace fornax::server {
namespace {

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return Errno(absl::StrCat("open ", path));
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : Errno(absl::StrCat("fsync ", path));
}

}  // namespace

bool IsSha256Hex(absl::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(const std::string& root) {
  std::error_code error;
  for (const char* sub : {"sha256", "tmp"}) {
    std::filesystem::create_directories(std::filesystem::path(root) / sub, error);
    if (error) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", root, "/", sub, ": ", error.message()));
    }
  }
  // Temp files of a run that died mid-upload are garbage now.
  for (const auto& entry : std::filesystem::directory_iterator(root + "/tmp", error)) {
    std::filesystem::remove(entry.path(), error);
  }
  return std::unique_ptr<ArtifactStore>(new ArtifactStore(root));
}

std::string ArtifactStore::PathFor(const std::string& sha256) const {
  return absl::StrCat(root_, "/sha256/", sha256.substr(0, 2), "/", sha256);
}

bool ArtifactStore::Contains(const std::string& sha256) const {
  return IsSha256Hex(sha256) && std::filesystem::exists(PathFor(sha256));
}

size_t ArtifactStore::Stripe(const std::string& sha256) const {
  return std::hash<std::string>{}(sha256) % locks_.size();
}

std::unique_lock<std::mutex> ArtifactStore::Lock(const std::string& sha256) {
  return std::unique_lock<std::mutex>(locks_[Stripe(sha256)]);
}

std::vector<std::unique_lock<std::mutex>> ArtifactStore::LockAll(
    const std::vector<std::string>& sha256s) {
  std::set<size_t> stripes;  // sorted, each once: locking a stripe twice would deadlock
  for (const std::string& sha256 : sha256s) stripes.insert(Stripe(sha256));
  std::vector<std::unique_lock<std::mutex>> held;
  for (size_t stripe : stripes) held.emplace_back(locks_[stripe]);
  return held;
}

absl::StatusOr<std::vector<ArtifactStore::StoredFile>> ArtifactStore::List() const {
  namespace fs = std::filesystem;
  std::vector<StoredFile> files;
  std::error_code error;
  const fs::path dir = fs::path(root_) / "sha256";
  // increment(error), not ++: a directory changing underneath must not throw.
  for (fs::directory_iterator prefix(dir, error), end; !error && prefix != end;
       prefix.increment(error)) {
    if (!prefix->is_directory(error) || error) continue;
    const std::string two = prefix->path().filename().string();
    for (fs::directory_iterator entry(prefix->path(), error); !error && entry != end;
         entry.increment(error)) {
      const std::string name = entry->path().filename().string();
      if (!IsSha256Hex(name) || name.compare(0, 2, two) != 0) continue;
      std::error_code size_error;
      const uintmax_t size = entry->file_size(size_error);
      if (size_error) continue;  // not a regular file, or removed meanwhile
      files.push_back({name, static_cast<int64_t>(size)});
    }
  }
  if (error) return absl::InternalError(absl::StrCat("list ", dir.string(), ": ", error.message()));
  return files;
}

absl::Status ArtifactStore::Remove(const std::string& sha256) {
  std::error_code error;
  std::filesystem::remove(PathFor(sha256), error);
  if (error) return absl::InternalError(absl::StrCat("remove ", sha256, ": ", error.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ArtifactStore::Writer>> ArtifactStore::Create(
    const std::string& sha256, int64_t size_bytes) {
  if (!IsSha256Hex(sha256)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sha256: expected 64 lowercase hex digits, got '", sha256, "'"));
  }
  if (size_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("size_bytes: must be >= 0, got ", size_bytes));
  }
  static std::atomic<int64_t> counter{0};
  const std::string temp =
      absl::StrCat(root_, "/tmp/", sha256, ".", getpid(), ".", counter.fetch_add(1));
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(absl::StrCat("create ", temp));
  return std::unique_ptr<Writer>(new Writer(this, temp, sha256, size_bytes, fd));
}

ArtifactStore::Writer::Writer(ArtifactStore* store, std::string temp_path, std::string sha256,
                              int64_t size, int fd)
    : store_(store),
      temp_path_(std::move(temp_path)),
      expected_sha256_(std::move(sha256)),
      expected_size_(size),
      fd_(fd),
      hash_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  EVP_DigestInit_ex(hash_.get(), EVP_sha256(), nullptr);
}

ArtifactStore::Writer::~Writer() { Discard(); }

void ArtifactStore::Writer::Discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!done_) ::unlink(temp_path_.c_str());
  done_ = true;
}

absl::Status ArtifactStore::Writer::Append(absl::string_view data) {
  if (done_) return absl::FailedPreconditionError("artifact writer already finished");
  if (written_ + static_cast<int64_t>(data.size()) > expected_size_) {
    Discard();
    return absl::InvalidArgumentError(
        absl::StrCat("received more than the declared size_bytes ", expected_size_, " (at least ",
                     written_ + static_cast<int64_t>(data.size()), "); nothing stored"));
  }
  EVP_DigestUpdate(hash_.get(), data.data(), data.size());
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status status = Errno(absl::StrCat("write ", temp_path_));
      Discard();
      return status;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  written_ += static_cast<int64_t>(data.size());
  return absl::OkStatus();
}

absl::Status ArtifactStore::Writer::Verify() {
  if (written_ != expected_size_) {
    Discard();
    return absl::DataLossError(absl::StrCat("received ", written_,
                                            " bytes but size_bytes declared ", expected_size_,
                                            "; nothing stored"));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(hash_.get(), digest, &length);
  const std::string actual =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), length));
  if (actual != expected_sha256_) {
    Discard();
    return absl::DataLossError(absl::StrCat("sha256 mismatch: declared ", expected_sha256_,
                                            ", received bytes hash to ", actual,
                                            "; nothing stored"));
  }
  if (::fsync(fd_) != 0) {
    absl::Status status = Errno(absl::StrCat("fsync ", temp_path_));
    Discard();
    return status;
  }
  ::close(fd_);
  fd_ = -1;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_lock<std::mutex>> ArtifactStore::Writer::Commit() {
  if (done_) return absl::FailedPreconditionError("artifact writer already finished");
  // The fsync, the slow part, runs before the lock: that only guards the
  // rename and the caller's record.
  FORNAX_RETURN_IF_ERROR(Verify());
  std::unique_lock<std::mutex> lock = store_->Lock(expected_sha256_);
  const std::string final_path = store_->PathFor(expected_sha256_);
  const std::filesystem::path parent = std::filesystem::path(final_path).parent_path();
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (::rename(temp_path_.c_str(), final_path.c_str()) != 0) {
    absl::Status status = Errno(absl::StrCat("rename to ", final_path));
    Discard();
    return status;
  }
  done_ = true;
  // The rename is durable once the directory entry is.
  FORNAX_RETURN_IF_ERROR(FsyncPath(parent.string(), O_RDONLY | O_DIRECTORY));
  return lock;
}

}  // namespace fornax::server
