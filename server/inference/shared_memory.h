// SharedMemoryRegistry: Triton's system shared memory extension. A client
// registers a region, `byte_size` bytes at `offset` in the POSIX shared
// memory object `key` (what shm_open and Python's multiprocessing.
// shared_memory name), under a name; an inference request then names the
// region (and an offset into it) instead of carrying an input's bytes, or
// asks for an output to be written there instead of into the reply.
//
// The server maps the object read/write (MAP_SHARED) at registration, so
// the region stays valid after the client unlinks the object. Requests hold a region by shared_ptr:
// unregistering removes the name at once, and the memory is unmapped when the last request using it
// finishes (so a request never reads or writes unmapped memory), or when the registry is destroyed
// with the server.
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

#include "absl/status/statusor.h"

namespace fornax::serving {

struct SharedMemoryRegionInfo {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// One registered region and its mapping (unmapped on destruction).
class SharedMemoryRegion;

// `size` bytes at `data` inside a region, which stay mapped while this
// lives.
struct SharedMemorySpan {
  std::shared_ptr<const SharedMemoryRegion> region;
  char* data = nullptr;
  size_t size = 0;
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
  // ("input 'x'") whose parameters named them (errors say so). Refused
  // (FAILED_PRECONDITION) when the object has shrunk below the region since
  // it was registered: touching those pages would kill the server with
  // SIGBUS. (A shrink racing the request can still do that; don't.)
  absl::StatusOr<SharedMemorySpan> Find(const std::string& name, uint64_t offset,
                                        uint64_t byte_size, const std::string& what) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const SharedMemoryRegion>> regions_;  // guarded by mu_
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_SHARED_MEMORY_H_
