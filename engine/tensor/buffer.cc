#include "engine/tensor/buffer.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace fornax {
namespace {

class HostAllocatorImpl final : public Allocator {
 public:
  const char* device_name() const override { return "cpu"; }
  void* Allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    return std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  }
  void Free(void* ptr) override { std::free(ptr); }
  bool host_accessible() const override { return true; }
};

}  // namespace

Allocator* HostAllocator() {
  static HostAllocatorImpl* allocator = new HostAllocatorImpl();
  return allocator;
}

std::shared_ptr<Buffer> Buffer::Make(Allocator* allocator, size_t bytes) {
  void* data = allocator->Allocate(bytes);
  if (data == nullptr) throw std::bad_alloc();
  if (allocator->host_accessible()) std::memset(data, 0, bytes);
  return std::shared_ptr<Buffer>(new Buffer(allocator, data, bytes));
}

Buffer::~Buffer() { allocator_->Free(data_); }

}  // namespace fornax
