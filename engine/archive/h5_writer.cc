// HDF5 C API calls behind H5Writer; every handle is closed on every path.
#include "engine/archive/h5_writer.h"

#include <hdf5.h>

#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/archive/h5_handle.h"

namespace fornax {
namespace {

// HDF5 prints its error stack to stderr by default; our Status says it all.
void SilenceHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// The file (and memory: every host Fornax runs on is little-endian) type of
// a dtype, owned by the caller. Keras's layouts for 16-bit floats: float16
// is an IEEE half, bfloat16 2-byte opaque data whose dataset has the
// attribute dtype="bfloat16" (saving_lib.H5IOStore).
absl::StatusOr<hid_t> FileTypeOf(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return H5Tcopy(H5T_IEEE_F32LE);
    case DType::kFloat16:
      return CreateFloat16Type();
    case DType::kBFloat16:
      return H5Tcreate(H5T_OPAQUE, 2);
    case DType::kInt32:
      return H5Tcopy(H5T_STD_I32LE);
    case DType::kInt64:
      return H5Tcopy(H5T_STD_I64LE);
    case DType::kUInt8:
      return H5Tcopy(H5T_STD_U8LE);
    default:
      return absl::UnimplementedError(absl::StrCat(
          "model.weights.h5: variables of dtype ", std::string(DTypeName(dtype)),
          " cannot be written yet (float32, float16, bfloat16, int32, int64 and uint8 can)"));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<H5Writer>> H5Writer::Create() {
  SilenceHdf5Errors();
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // The core driver keeps the file in memory; no backing store is written.
  if (!fapl.ok() || H5Pset_fapl_core(fapl.get(), 1 << 16, /*backing_store=*/0) < 0) {
    return absl::InternalError("model.weights.h5: cannot set up HDF5's in-memory driver");
  }
  // Open core files are tracked by name, so each writer gets its own.
  static std::atomic<int> counter{0};
  const std::string name = absl::StrCat("fornax_weights_", counter++, ".h5");
  hid_t file = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  if (file < 0) return absl::InternalError("model.weights.h5: cannot create the HDF5 file");
  return std::unique_ptr<H5Writer>(new H5Writer(file));
}

H5Writer::~H5Writer() { H5Fclose(file_); }

absl::Status H5Writer::CreateGroup(const std::string& path) {
  H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  if (!lcpl.ok() || H5Pset_create_intermediate_group(lcpl.get(), 1) < 0) {
    return absl::InternalError("model.weights.h5: cannot create a link property list");
  }
  H5Handle group(H5Gcreate2(file_, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!group.ok()) {
    return absl::InternalError(absl::StrCat("model.weights.h5: cannot create group '", path, "'"));
  }
  return absl::OkStatus();
}

absl::Status H5Writer::SetStringAttribute(const std::string& path, const std::string& key,
                                          const std::string& value) {
  H5Handle group(H5Oopen(file_, path.c_str(), H5P_DEFAULT), H5Oclose);
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (!group.ok() || !type.ok() || !space.ok() || H5Tset_size(type.get(), H5T_VARIABLE) < 0 ||
      H5Tset_cset(type.get(), H5T_CSET_UTF8) < 0) {
    return absl::InternalError(
        absl::StrCat("model.weights.h5: cannot prepare attribute '", key, "' of '", path, "'"));
  }
  H5Handle attr(
      H5Acreate2(group.get(), key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose);
  const char* chars = value.c_str();
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), &chars) < 0) {
    return absl::InternalError(
        absl::StrCat("model.weights.h5: cannot write attribute '", key, "' of '", path, "'"));
  }
  return absl::OkStatus();
}

absl::Status H5Writer::WriteDataset(const std::string& path, const Tensor& value) {
  absl::StatusOr<hid_t> file_type = FileTypeOf(value.dtype());
  if (!file_type.ok()) {
    return absl::Status(file_type.status().code(),
                        absl::StrCat(path, ": ", file_type.status().message()));
  }
  H5Handle type(*file_type, H5Tclose);
  std::vector<hsize_t> dims(value.shape().dims().begin(), value.shape().dims().end());
  H5Handle space(dims.empty()
                     ? H5Screate(H5S_SCALAR)
                     : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                 H5Sclose);
  if (!space.ok()) {
    return absl::InternalError(absl::StrCat("model.weights.h5: cannot make the dataspace of '",
                                            path, "' (shape ", value.shape().ToString(), ")"));
  }
  H5Handle dataset(type.ok() ? H5Dcreate2(file_, path.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                          H5P_DEFAULT, H5P_DEFAULT)
                             : -1,
                   H5Dclose);
  if (!dataset.ok() ||
      H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.raw_data()) < 0) {
    return absl::InternalError(absl::StrCat("model.weights.h5: cannot write dataset '", path, "'"));
  }
  if (value.dtype() == DType::kBFloat16) return SetStringAttribute(path, "dtype", "bfloat16");
  return absl::OkStatus();
}

absl::StatusOr<std::string> H5Writer::FileImage() {
  if (H5Fflush(file_, H5F_SCOPE_GLOBAL) < 0) {
    return absl::InternalError("model.weights.h5: cannot flush the HDF5 file");
  }
  const ssize_t size = H5Fget_file_image(file_, nullptr, 0);
  if (size < 0) return absl::InternalError("model.weights.h5: cannot size the HDF5 file image");
  std::string image(static_cast<size_t>(size), '\0');
  if (H5Fget_file_image(file_, image.data(), image.size()) != size) {
    return absl::InternalError("model.weights.h5: cannot copy the HDF5 file image");
  }
  return image;
}

}  // namespace fornax
