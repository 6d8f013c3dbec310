// IDX files (the format MNIST and Fashion-MNIST ship in), gzipped or plain.
//
// An IDX file is a 4-byte magic (0, 0, element type, rank), `rank` big-endian
// uint32 dimensions, then the elements in row-major order. Fornax reads the
// uint8 element type (0x08), which is what the MNIST family uses: images come
// back as uint8 (N, 28, 28), labels as uint8 (N,).
// Thread-safety: free functions, safe to call concurrently.
#ifndef FORNAX_ENGINE_DATA_IDX_H_
#define FORNAX_ENGINE_DATA_IDX_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/tensor/tensor.h"

namespace fornax {

// Reads `path` (".gz" or not: the gzip magic decides). Errors name the file:
// NotFound when it is missing; InvalidArgument for a bad magic, an element
// type other than uint8, a truncated body (how much the header declares and
// how much the file holds) or trailing bytes.
absl::StatusOr<Tensor> ReadIdx(const std::string& path);

}  // namespace fornax

#endif  // FORNAX_ENGINE_DATA_IDX_H_
