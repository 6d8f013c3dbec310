// A pre-check of an HDF5 file image for global heap collections that make
// libhdf5 1.10 loop forever. Variable-length strings (the attributes of a
// legacy Keras .h5) live in global heap collections ("GCOL"); when HDF5
// parses one whose object list has an entry of size 0 it never advances
// (H5HG__cache_heap_deserialize), and it reads bytes past the end of an
// in-memory image as zeros, which look like such an entry. The fuzzer
// found both (docs/fuzzing.md). The check walks every "GCOL" collection in
// the image the way HDF5 does and refuses one that would not advance or
// would step past its own end. It also refuses variable-length records
// (length, collection, index) that declare more bytes than their heap
// object holds, which make HDF5 allocate up to 4 GiB per string.
#ifndef FORNAX_ENGINE_ARCHIVE_H5_HEAP_CHECK_H_
#define FORNAX_ENGINE_ARCHIVE_H5_HEAP_CHECK_H_

#include <string>

#include "absl/status/status.h"

namespace fornax {

// InvalidArgument naming `source` and the collection's offset, else OK.
absl::Status CheckGlobalHeaps(const std::string& image, const std::string& source);

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_H5_HEAP_CHECK_H_
