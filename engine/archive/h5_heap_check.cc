// GlobalHeaps: the object walk of HDF5 1.10's H5HG__cache_heap_deserialize
// with the progress checks it lacks, and a reader of version 1 object
// headers' attribute messages (HDF5 file format spec, IV.A.1.a and IV.A.2.m).
#include "engine/archive/h5_heap_check.h"

#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

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

// Local heaps ("HEAP", version 0: data size, free list head, data address)
// hold group member names. HDF5 1.10 follows a local heap's free list
// (each block: next offset, size; 1 ends it) without noticing a cycle, and
// allocates a node per step until memory runs out (H5HL__fl_deserialize).
absl::Status CheckLocalHeaps(const std::string& image, uint64_t offsets, uint64_t lengths,
                             const std::string& source) {
  const uint64_t size = image.size();
  for (size_t at = image.find(std::string("HEAP\0", 5)); at != std::string::npos;
       at = image.find(std::string("HEAP\0", 5), at + 1)) {
    if (at + 8 + 2 * lengths + offsets > size) break;
    const uint64_t data_size = Decode(image, at + 8, lengths);
    uint64_t free_block = Decode(image, at + 8 + lengths, lengths);
    const uint64_t data = Decode(image, at + 8 + 2 * lengths, offsets);
    if (data > size || data_size > size - data) continue;  // past the file: HDF5 fails on it
    std::set<uint64_t> visited;
    while (free_block != 1 && free_block < data_size &&
           2 * lengths <= data_size - free_block) {  // else HDF5 stops with an error
      if (!visited.insert(free_block).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": corrupt HDF5 local heap at offset ", at,
                         " (its free list loops at block ", free_block, "); refusing the file"));
      }
      const uint64_t next = Decode(image, data + free_block, lengths);
      const uint64_t block = Decode(image, data + free_block + lengths, lengths);
      if (next == 0 || block > data_size - free_block) break;  // HDF5 stops with an error
      free_block = next;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GlobalHeaps> GlobalHeaps::Scan(const std::string& image, const std::string& source) {
  GlobalHeaps heaps;
  if (image.size() < 16) return heaps;  // HDF5 refuses it itself
  // The superblock's "size of offsets" and "size of lengths" (v0/v1 at bytes
  // 13 and 14, v2/v3 at bytes 9 and 10).
  const bool v01 = image[8] <= 1;
  const uint64_t lengths = static_cast<unsigned char>(image[v01 ? 14 : 10]);
  heaps.offsets8_ = static_cast<unsigned char>(image[v01 ? 13 : 9]) == 8 && lengths == 8;
  if (lengths != 2 && lengths != 4 && lengths != 8) return heaps;
  const uint64_t offsets = static_cast<unsigned char>(image[v01 ? 13 : 9]);
  if (offsets == 2 || offsets == 4 || offsets == 8) {
    FORNAX_RETURN_IF_ERROR(CheckLocalHeaps(image, offsets, lengths, source));
  }
  const uint64_t header = Align8(4 + 1 + 3 + lengths);         // H5HG_SIZEOF_HDR
  const uint64_t object_header = Align8(2 + 2 + 4 + lengths);  // H5HG_SIZEOF_OBJHDR
  const uint64_t size = image.size();
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
    std::map<uint64_t, uint64_t>& objects = heaps.collections_[at];
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
  return heaps;
}

absl::Status GlobalHeaps::CheckAttribute(const std::string& image, uint64_t header,
                                         const std::string& name, uint64_t count,
                                         const std::string& where) const {
  const uint64_t size = image.size();
  if (!offsets8_ || header > size || size - header < 16 || image[header] != 1) {
    return absl::OkStatus();
  }
  // Chunks of messages: the header's own, then continuation blocks.
  std::vector<std::pair<uint64_t, uint64_t>> chunks = {{header + 16, Decode(image, header + 8, 4)}};
  for (size_t c = 0; c < chunks.size() && c < 64; ++c) {
    const auto [start, length] = chunks[c];
    if (start > size || length > size - start) continue;
    const uint64_t end = start + length;
    for (uint64_t p = start; p + 8 <= end;) {
      const uint64_t type = Decode(image, p, 2);
      const uint64_t data = p + 8;
      const uint64_t message = Decode(image, p + 2, 2);
      if (message > end - data) break;
      p = data + message;
      if (type == 0x10 && message >= 16) {  // continuation: address, length
        chunks.emplace_back(Decode(image, data, 8), Decode(image, data + 8, 8));
        continue;
      }
      if (type != 0x0C || message < 8 || image[data] != 1) continue;  // attribute, version 1
      const uint64_t name_size = Decode(image, data + 2, 2);
      if (name_size != name.size() + 1 || 8 + name_size > message ||
          image.compare(data + 8, name.size(), name) != 0) {
        continue;
      }
      const uint64_t records = data + 8 + Align8(name_size) + Align8(Decode(image, data + 4, 2)) +
                               Align8(Decode(image, data + 6, 2));
      if (records > p || count > (p - records) / 16) return absl::OkStatus();  // HDF5 refuses it
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t record = records + 16 * i;
        const uint64_t declared = Decode(image, record, 4);
        const auto collection = collections_.find(Decode(image, record + 4, 8));
        const uint64_t index = Decode(image, record + 12, 4);
        uint64_t holds = 0;
        if (collection != collections_.end() && collection->second.count(index)) {
          holds = collection->second.at(index);
        }
        if (declared > holds) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, ": string ", i, " declares ", declared, " bytes but its heap object holds ",
              holds, " (corrupt variable-length data); refusing the file"));
        }
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

}  // namespace fornax
