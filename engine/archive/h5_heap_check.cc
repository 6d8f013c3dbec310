// CheckGlobalHeaps: the object walk of HDF5 1.10's
// H5HG__cache_heap_deserialize, with the progress checks it lacks.
#include "engine/archive/h5_heap_check.h"

#include <cstdint>
#include <map>

#include "absl/strings/str_cat.h"

namespace fornax {
namespace {

uint64_t Align8(uint64_t n) { return (n + 7) / 8 * 8; }

// Little-endian unsigned of `bytes` bytes at `at` (the caller checks bounds).
uint64_t Decode(const std::string& image, uint64_t at, uint64_t bytes) {
  uint64_t value = 0;
  for (uint64_t i = bytes; i > 0; --i) {
    value = value << 8 | static_cast<unsigned char>(image[at + i - 1]);
  }
  return value;
}

}  // namespace

absl::Status CheckGlobalHeaps(const std::string& image, const std::string& source) {
  if (image.size() < 16) return absl::OkStatus();  // HDF5 refuses it itself
  // The superblock's "size of offsets" and "size of lengths" (v0/v1 at bytes
  // 13 and 14, v2/v3 at bytes 9 and 10).
  const bool v01 = image[8] <= 1;
  const uint64_t offsets = static_cast<unsigned char>(image[v01 ? 13 : 9]);
  const uint64_t lengths = static_cast<unsigned char>(image[v01 ? 14 : 10]);
  if (lengths != 2 && lengths != 4 && lengths != 8) return absl::OkStatus();
  const uint64_t header = Align8(4 + 1 + 3 + lengths);         // H5HG_SIZEOF_HDR
  const uint64_t object_header = Align8(2 + 2 + 4 + lengths);  // H5HG_SIZEOF_OBJHDR
  const uint64_t size = image.size();
  // collection offset -> object index -> object size
  std::map<uint64_t, std::map<uint64_t, uint64_t>> collections;
  for (size_t at = image.find("GCOL\x01"); at != std::string::npos;
       at = image.find("GCOL\x01", at + 1)) {
    if (at + header > size) break;
    const uint64_t collection = Decode(image, at + 8, lengths);
    // A collection reaching past the image is past HDF5's end-of-file
    // address too (it checks that against the file size on open), so HDF5
    // fails to read it rather than looping; bytes that merely look like a
    // signature mostly end up here.
    if (collection > size - at) continue;
    const uint64_t end = at + collection;
    std::map<uint64_t, uint64_t>& objects = collections[at];
    for (uint64_t p = at + header; p < end && p + object_header <= end;) {
      const uint64_t index = Decode(image, p, 2);
      const uint64_t object = Decode(image, p + 8, lengths);
      const uint64_t need = index > 0 ? object_header + Align8(object) : object;
      if (need == 0 || object > end - p || need > end - p) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": corrupt HDF5 global heap at offset ", at, " (object ", index,
                         " at offset ", p, " has size ", object, "); refusing the file"));
      }
      if (index > 0) objects[index] = object;
      p += need;
    }
  }
  // A variable-length element on disk is (length: 4 bytes, collection
  // address, object index: 4 bytes), and HDF5 allocates `length` bytes
  // before it reads the object: a lying length makes it allocate and fill
  // up to 4 GiB per string. Such records point at an object that is
  // shorter than they say.
  if (offsets != 8) return absl::OkStatus();
  for (const auto& [at, objects] : collections) {
    std::string address(8, '\0');
    for (int i = 0; i < 8; ++i) address[i] = static_cast<char>(at >> (8 * i) & 0xff);
    for (size_t p = image.find(address, 4); p != std::string::npos && p + 12 <= size;
         p = image.find(address, p + 1)) {
      const auto object = objects.find(Decode(image, p + 8, 4));
      const uint64_t length = Decode(image, p - 4, 4);
      if (object != objects.end() && length > object->second) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": corrupt HDF5 variable-length data at offset ", p - 4, " (declares ", length,
            " bytes, its heap object holds ", object->second, "); refusing the file"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace fornax
