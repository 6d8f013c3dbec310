// H5Reader: reads datasets of an HDF5 file held in memory (a .keras
// archive's model.weights.h5) without touching the filesystem. Only what
// Keras writes is accepted: numeric datasets stored in the file itself;
// every failure names the dataset.
// Thread-safety: none.
#ifndef FORNAX_ENGINE_ARCHIVE_H5_READER_H_
#define FORNAX_ENGINE_ARCHIVE_H5_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/archive/h5_heap_check.h"
#include "engine/tensor/tensor.h"

namespace fornax {

class H5Reader {
 public:
  // `image` is the whole file; `source` names it in messages.
  static absl::StatusOr<std::unique_ptr<H5Reader>> Open(std::string image, std::string source);
  ~H5Reader();
  H5Reader(const H5Reader&) = delete;
  H5Reader& operator=(const H5Reader&) = delete;

  bool Exists(const std::string& path) const;
  // The number of links (datasets) in group `path`; 0 when it is missing.
  int64_t CountMembers(const std::string& path) const;
  // Float32 (and float64, cast to float32), float16, bfloat16 (Keras's
  // opaque layout), int32, int64 and uint8 datasets.
  absl::StatusOr<Tensor> ReadDataset(const std::string& path) const;
  // Dataset `path` as the value of model variable `variable_name` (for
  // messages), which `like` holds now: the shapes must match and both be
  // floating or both integer; the value comes back cast to like's dtype.
  absl::StatusOr<Tensor> ReadVariable(const std::string& path, const std::string& variable_name,
                                      const Tensor& like) const;
  // The string attribute `key` of the object at `path` ("/" for the file):
  // variable-length or fixed-length (NUL-padded), a scalar or an array (one
  // element per entry; an empty array of any type is an empty list, as
  // Keras writes an empty weight_names). NotFound when it is missing.
  absl::StatusOr<std::vector<std::string>> ReadStringsAttribute(const std::string& path,
                                                                const std::string& key) const;

 private:
  bool IsBFloat16(const std::string& dataset) const;  // attribute dtype="bfloat16"
  H5Reader(int64_t file, std::string image, std::string source, GlobalHeaps heaps)
      : file_(file),
        image_(std::move(image)),
        source_(std::move(source)),
        heaps_(std::move(heaps)) {}
  int64_t file_;       // hid_t
  std::string image_;  // HDF5 reads from this buffer for the file's lifetime
  std::string source_;
  GlobalHeaps heaps_;  // checked before HDF5 reads variable-length strings
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_H5_READER_H_
