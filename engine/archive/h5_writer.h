// H5Writer: builds a small HDF5 file in memory (HDF5's core driver, no
// backing file) the way h5py lays out Keras's model.weights.h5: groups made
// with their parents, contiguous datasets without filters, scalars as a
// scalar dataspace, and variable-length UTF-8 string attributes.
// Thread-safety: none (the HDF5 library itself is built without threads).
#ifndef FORNAX_ENGINE_ARCHIVE_H5_WRITER_H_
#define FORNAX_ENGINE_ARCHIVE_H5_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/tensor/tensor.h"

namespace fornax {

class H5Writer {
 public:
  static absl::StatusOr<std::unique_ptr<H5Writer>> Create();
  ~H5Writer();
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;

  // Creates group `path` ("layers/dense/vars") and any missing parents.
  absl::Status CreateGroup(const std::string& path);
  // Sets the string attribute `key` on the existing group or dataset `path`.
  absl::Status SetStringAttribute(const std::string& path, const std::string& key,
                                  const std::string& value);
  // Writes `value` as dataset `path` (its group must exist). Float32,
  // float16, bfloat16 (as Keras: opaque, attribute dtype="bfloat16"), int32,
  // int64 and uint8 tensors; others are Unimplemented.
  absl::Status WriteDataset(const std::string& path, const Tensor& value);
  // Flushes and returns the bytes of the whole file.
  absl::StatusOr<std::string> FileImage();

 private:
  explicit H5Writer(int64_t file) : file_(file) {}
  int64_t file_;  // hid_t
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_ARCHIVE_H5_WRITER_H_
