// Buffer: a block of device memory, freed by the allocator that made it.
//
// Allocator is the small interface every device implements (ggml's buffer
// type, tinygrad's _alloc/_free). HostAllocator() returns the process-wide
// CPU allocator, 64-byte aligned so AVX-512 loads never straddle lines.
// Buffers are immutable in size, move-only, and shared through shared_ptr by
// tensors that view them. Thread-safety: an Allocator is thread-safe; a
// Buffer's contents are not synchronized.
#ifndef FORNAX_ENGINE_TENSOR_BUFFER_H_
#define FORNAX_ENGINE_TENSOR_BUFFER_H_

#include <cstddef>
#include <memory>

namespace fornax {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual const char* device_name() const = 0;
  // Returns memory aligned to at least 64 bytes, or nullptr when out of memory.
  virtual void* Allocate(size_t bytes) = 0;
  virtual void Free(void* ptr) = 0;
  // True when the memory is directly addressable by the host CPU.
  virtual bool host_accessible() const = 0;
};

Allocator* HostAllocator();

class Buffer {
 public:
  // Allocates `bytes` from `allocator`; the memory is zero-filled on the host.
  static std::shared_ptr<Buffer> Make(Allocator* allocator, size_t bytes);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t size() const { return size_; }
  Allocator* allocator() const { return allocator_; }

 private:
  Buffer(Allocator* allocator, void* data, size_t size)
      : allocator_(allocator), data_(data), size_(size) {}
  Allocator* allocator_;
  void* data_;
  size_t size_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_TENSOR_BUFFER_H_
