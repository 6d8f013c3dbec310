#include "server/inference/shared_memory.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mman.h>  // shm_open
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace fornax::serving {
namespace {

// Whether the address of a gRPC peer string is a loopback address.
bool IsLoopbackPeer(std::string peer) {
  absl::string_view rest = peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    // "ipv4:ADDRESS:PORT"
    const std::string address(rest.substr(0, rest.rfind(':')));
    in_addr v4{};
    return inet_pton(AF_INET, address.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
  }
  if (absl::ConsumePrefix(&rest, "ipv6:")) {
    // "ipv6:[ADDRESS]:PORT", the brackets maybe URI-escaped.
    const std::string text = absl::StrReplaceAll(rest, {{"%5B", "["}, {"%5D", "]"}});
    const size_t open = text.find('[');
    const size_t close = text.find(']');
    if (open != 0 || close == std::string::npos) return false;
    const std::string address = text.substr(1, close - 1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, address.c_str(), &v6) != 1) return false;
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

}  // namespace

absl::Status CheckRegisteringClient(const std::string& peer) {
  if (peer == "unknown" || absl::StartsWith(peer, "unix:") || IsLoopbackPeer(peer)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("system shared memory can only be registered by a client on this machine "
                   "(loopback or in-process), not ",
                   peer));
}

class SharedMemoryRegion {
 public:
  SharedMemoryRegion(SharedMemoryRegionInfo info, int fd) : info_(std::move(info)), fd_(fd) {}
  ~SharedMemoryRegion() { close(fd_); }
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;

  const SharedMemoryRegionInfo& info() const { return info_; }
  // The object, even once the client has unlinked it.
  int fd() const { return fd_; }

 private:
  const SharedMemoryRegionInfo info_;
  const int fd_;
};

namespace {

std::string Where(const std::string& name) {
  return absl::StrCat("system shared memory region '", name, "'");
}

absl::Status OpenError(int error, const SharedMemoryRegionInfo& info) {
  const std::string message = absl::StrCat(Where(info.name), ": cannot open shared memory key '",
                                           info.key, "': ", std::strerror(error));
  switch (error) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

// Closes the descriptor unless released.
struct ScopedFd {
  int fd;
  ~ScopedFd() {
    if (fd >= 0) close(fd);
  }
  int Release() { return std::exchange(fd, -1); }
};

}  // namespace

absl::Status SharedMemoryRegistry::Register(const SharedMemoryRegionInfo& info) {
  if (info.name.empty()) {
    return absl::InvalidArgumentError(
        "system shared memory registration: 'name' must not be empty");
  }
  if (info.byte_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(info.name), ": byte_size must be at least 1, got 0"));
  }
  {
    // Checked first for the error; checked again when inserting (a
    // concurrent registration may take the name while this one opens).
    std::lock_guard<std::mutex> lock(mu_);
    if (regions_.contains(info.name)) {
      return absl::AlreadyExistsError(absl::StrCat(Where(info.name), " is already registered"));
    }
  }
  ScopedFd fd{shm_open(info.key.c_str(), O_RDWR, 0)};
  if (fd.fd < 0) return OpenError(errno, info);
  struct stat st;
  if (fstat(fd.fd, &st) != 0) {
    return absl::InternalError(absl::StrCat(Where(info.name), ": fstat on shared memory key '",
                                            info.key, "': ", std::strerror(errno)));
  }
  const uint64_t object_size = static_cast<uint64_t>(st.st_size);
  if (info.offset > object_size || info.byte_size > object_size - info.offset) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(info.name), ": offset ", info.offset, " + byte_size ", info.byte_size,
        " is past the end of shared memory key '", info.key, "' (", object_size, " bytes)"));
  }
  auto region = std::make_shared<const SharedMemoryRegion>(info, fd.Release());
  std::lock_guard<std::mutex> lock(mu_);
  if (!regions_.emplace(info.name, std::move(region)).second) {
    return absl::AlreadyExistsError(absl::StrCat(Where(info.name), " is already registered"));
  }
  return absl::OkStatus();
}

void SharedMemoryRegistry::Unregister(const std::string& name) {
  // Destroyed (closed) outside the lock, unless a request still holds one.
  std::map<std::string, std::shared_ptr<const SharedMemoryRegion>> removed;
  std::lock_guard<std::mutex> lock(mu_);
  if (name.empty()) {
    removed.swap(regions_);
  } else if (auto node = regions_.extract(name)) {
    removed.insert(std::move(node));
  }
}

absl::StatusOr<std::vector<SharedMemoryRegionInfo>> SharedMemoryRegistry::Status(
    const std::string& name) const {
  std::vector<SharedMemoryRegionInfo> infos;
  std::lock_guard<std::mutex> lock(mu_);
  if (name.empty()) {
    for (const auto& [_, region] : regions_) infos.push_back(region->info());
    return infos;
  }
  auto it = regions_.find(name);
  if (it == regions_.end())
    return absl::NotFoundError(absl::StrCat(Where(name), " is not registered"));
  infos.push_back(it->second->info());
  return infos;
}

absl::StatusOr<SharedMemorySpan> SharedMemoryRegistry::Find(const std::string& name,
                                                            uint64_t offset, uint64_t byte_size,
                                                            const std::string& what) const {
  std::shared_ptr<const SharedMemoryRegion> region;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = regions_.find(name);
    if (it == regions_.end()) {
      return absl::NotFoundError(
          absl::StrCat(what, ": shared memory region '", name, "' is not registered"));
    }
    region = it->second;
  }
  const SharedMemoryRegionInfo& info = region->info();
  if (offset > info.byte_size || byte_size > info.byte_size - offset) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": shared_memory_offset ", offset, " + shared_memory_byte_size ", byte_size,
        " is past the end of shared memory region '", name, "' (", info.byte_size, " bytes)"));
  }
  return SharedMemorySpan(std::move(region), offset, static_cast<size_t>(byte_size), what);
}

namespace {

// Calls `step(done)`, a pread or pwrite of the bytes from `done` on, until
// `n` bytes have moved, resuming after partial transfers and EINTR. Returns
// the count moved, short of `n` only when a step moved nothing (pread: the
// end of the object), or -1 with errno set.
template <typename Step>
ssize_t TransferAll(size_t n, Step step) {
  size_t done = 0;
  while (done < n) {
    const ssize_t moved = step(done);
    if (moved < 0 && errno == EINTR) continue;
    if (moved < 0) return -1;
    if (moved == 0) break;
    done += static_cast<size_t>(moved);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace

SharedMemorySpan::SharedMemorySpan(std::shared_ptr<const SharedMemoryRegion> region,
                                   uint64_t offset, size_t size, std::string what)
    : region_(std::move(region)), offset_(offset), size_(size), what_(std::move(what)) {}

absl::Status SharedMemorySpan::Read(void* out) const {
  const SharedMemoryRegionInfo& info = region_->info();
  const uint64_t start = info.offset + offset_;
  char* to = static_cast<char*>(out);
  const ssize_t got = TransferAll(size_, [&](size_t done) {
    return pread(region_->fd(), to + done, size_ - done, static_cast<off_t>(start + done));
  });
  if (got < 0) {
    return absl::InternalError(absl::StrCat(what_, ": cannot read shared memory key '", info.key,
                                            "' of region '", info.name,
                                            "': ", std::strerror(errno)));
  }
  if (static_cast<size_t>(got) == size_) return absl::OkStatus();
  // The object ended before the span: the client has shrunk it. Its size
  // now, unless it has grown back since the read (then where the read
  // stopped).
  const uint64_t stopped = start + static_cast<uint64_t>(got);
  struct stat st;
  const uint64_t size = fstat(region_->fd(), &st) == 0
                            ? std::min(static_cast<uint64_t>(st.st_size), stopped)
                            : stopped;
  return absl::FailedPreconditionError(
      absl::StrCat(what_, ": shared memory key '", info.key, "' of region '", info.name,
                   "' has shrunk to ", size, " bytes since it was registered (offset ", info.offset,
                   " + byte_size ", info.byte_size, "); register it again"));
}

absl::Status SharedMemorySpan::Write(const void* bytes, size_t n) const {
  const SharedMemoryRegionInfo& info = region_->info();
  const uint64_t start = info.offset + offset_;
  const char* from = static_cast<const char*>(bytes);
  const ssize_t put = TransferAll(n, [&](size_t done) {
    return pwrite(region_->fd(), from + done, n - done, static_cast<off_t>(start + done));
  });
  if (put < 0 || static_cast<size_t>(put) != n) {
    return absl::InternalError(
        absl::StrCat(what_, ": cannot write shared memory key '", info.key, "' of region '",
                     info.name, "': ", put < 0 ? std::strerror(errno) : "nothing written"));
  }
  return absl::OkStatus();
}

}  // namespace fornax::serving
