// A pre-check of an HDF5 file image for global heap collections that make
// libhdf5 1.10 loop forever. Variable-length strings (the attributes of a
// legacy Keras .h5) live in global heap collections ("GCOL"); when HDF5
// parses one whose object list has an entry of size 0 it never advances
// (H5HG__cache_heap_deserialize), and it reads bytes past the end of an
// in-memory image as zeros, which look like such an entry. The fuzzer
// found both (docs/fuzzing.md). The check walks every "GCOL" collection in
// the image the way HDF5 does and refuses one that would not advance or
// would step past its own end. Before an attribute's strings are read it
// also checks their variable-length records (length, collection, index):
// HDF5 allocates and fills the declared length, up to 4 GiB per string,
// before it reads the heap object, so a record must point at an object
// holding at least that much. Local heaps (group member names) whose free
// list loops, which make HDF5 allocate until memory runs out, are refused
// too.
#ifndef FORNAX_ENGINE_ARCHIVE_H5_HEAP_CHECK_H_
#define FORNAX_ENGINE_ARCHIVE_H5_HEAP_CHECK_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fornax {

class GlobalHeaps {
 public:
  // Walks every global heap collection and every local heap free list of
  // `image`; InvalidArgument naming `source` and the heap's offset when one
  // would make HDF5 loop.
  static absl::StatusOr<GlobalHeaps> Scan(const std::string& image, const std::string& source);

  // Checks the `count` variable-length records of attribute `name` in the
  // (version 1) object header at image offset `header` before HDF5 reads
  // them: each must point at a heap object holding at least its declared
  // length. `where` names the attribute in the message. Headers and
  // attribute messages of other versions are not checked (h5py, and so
  // Keras, write version 1).
  absl::Status CheckAttribute(const std::string& image, uint64_t header, const std::string& name,
                              uint64_t count, const std::string& where) const;

 private:
  // collection offset -> object index -> object size
  std::map<uint64_t, std::map<uint64_t, uint64_t>> collections_;
  bool offsets8_ = false;  // addresses are 8 bytes (the records can be checked)
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_H5_HEAP_CHECK_H_
