// SharedMemoryRegistry: Triton's system shared memory extension. A client
// registers a region, `byte_size` bytes at `offset` in the POSIX shared
// memory object `key` (what shm_open and Python's multiprocessing.
// shared_memory name), under a name; an inference request then names the
// region (and an offset into it) instead of carrying an input's bytes, or
// asks for an output to be written there instead of into the reply.
//
// The server opens the object read/write at registration and keeps the
// descriptor, so the region stays valid after the client unlinks the
// object. It copies with pread/pwrite and never maps the object: the
// object is the client's, which may shrink it (ftruncate) at any moment,
// and touching a mapping past the end of a shrunk object raises SIGBUS,
// which would kill the server; a read past the end only comes back short.
// Requests hold a region by shared_ptr: unregistering removes the name at
// once, and the descriptor is closed when the last request using it
// finishes, or when the registry is destroyed with the server.
//
// Status codes follow Triton where it has one: a name registered twice ->
// ALREADY_EXISTS; an unknown region in Status or in a request -> NOT_FOUND;
// unregistering an unknown name is OK (nothing to do). Bad ranges ->
// INVALID_ARGUMENT naming the field; a key that cannot be opened ->
// NOT_FOUND (no such object), PERMISSION_DENIED or INVALID_ARGUMENT, with
// the key and the errno text.
//
// A registration lets requests read and overwrite any shared memory object
// the server's user can open: InferenceService accepts registrations only
// from clients on this machine.
// Thread-safety: every method may be called concurrently.
#ifndef FORNAX_SERVER_INFERENCE_SHARED_MEMORY_H_
#define FORNAX_SERVER_INFERENCE_SHARED_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fornax::serving {

struct SharedMemoryRegionInfo {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// One registered region and its object's descriptor (closed on
// destruction).
class SharedMemoryRegion;

// `size()` bytes at an offset inside a region, for the tensor `what`
// ("input 'x'") that named them; the region's object stays open while this
// lives.
class SharedMemorySpan {
 public:
  SharedMemorySpan(std::shared_ptr<const SharedMemoryRegion> region, uint64_t offset, size_t size,
                   std::string what);

  size_t size() const { return size_; }
  // Copies the span's size() bytes into `out`. FailedPrecondition naming
  // the region, its key and range when the client has shrunk the object
  // below them since registration.
  absl::Status Read(void* out) const;
  // Writes `n` <= size() bytes at the span's start. Past the end of a
  // shrunk object this grows it back (as writing a file does).
  absl::Status Write(const void* bytes, size_t n) const;

 private:
  std::shared_ptr<const SharedMemoryRegion> region_;
  uint64_t offset_;  // into the region
  size_t size_;
  std::string what_;
};

// Whether a client at `peer` may register regions: only one on this
// machine may (a registration lets requests read and overwrite any shared
// memory object the server's user can open, and a worker may listen on
// 0.0.0.0). `peer` is in gRPC's form: "ipv4:127.0.0.1:5000",
// "ipv6:[::1]:5000" (brackets also %5B/%5D-escaped), "unix:...", or
// "unknown" for the in-process channel, whose callers (HTTP/REST) check
// their own client's address. OK for a loopback address (127.0.0.0/8, ::1,
// ::ffff:127.x.y.z), a unix socket or in-process; else PermissionDenied
// naming `peer`.
absl::Status CheckRegisteringClient(const std::string& peer);

class SharedMemoryRegistry {
 public:
  SharedMemoryRegistry() = default;
  SharedMemoryRegistry(const SharedMemoryRegistry&) = delete;
  SharedMemoryRegistry& operator=(const SharedMemoryRegistry&) = delete;

  absl::Status Register(const SharedMemoryRegionInfo& info);
  // Removes `name`, or every region when `name` is empty.
  void Unregister(const std::string& name);
  // The region `name`, or every region (by name) when `name` is empty.
  absl::StatusOr<std::vector<SharedMemoryRegionInfo>> Status(const std::string& name) const;

  // `byte_size` bytes at `offset` in region `name`, for the tensor `what`
  // ("input 'x'") whose parameters named them (errors say so).
  absl::StatusOr<SharedMemorySpan> Find(const std::string& name, uint64_t offset,
                                        uint64_t byte_size, const std::string& what) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const SharedMemoryRegion>> regions_;  // guarded by mu_
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_SHARED_MEMORY_H_
