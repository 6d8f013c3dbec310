// HDF5 C API calls behind H5Reader: the file image is opened read-only with
// the core driver; dataset storage layouts other than contiguous/compact/
// chunked in-file (external files, virtual datasets) are refused.
#include "engine/archive/h5_reader.h"

#include <hdf5.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/archive/h5_handle.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

// Refuses datasets larger than this many elements (a declared size can lie).
constexpr hsize_t kMaxElements = hsize_t{1} << 31;
// Refuses string attributes with more entries or bytes than this.
constexpr hssize_t kMaxAttributeEntries = hssize_t{1} << 20;
constexpr size_t kMaxAttributeBytes = size_t{64} << 20;

}  // namespace

absl::StatusOr<std::unique_ptr<H5Reader>> H5Reader::Open(std::string image, std::string source) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // The file's signature first: HDF5 would otherwise only say "unable to open".
  if (image.size() < 8 || image.compare(0, 8, "\x89HDF\r\n\x1a\n") != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not an HDF5 file (no HDF5 signature at offset 0)"));
  }
  FORNAX_ASSIGN_OR_RETURN(GlobalHeaps heaps, GlobalHeaps::Scan(image, source));
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.ok() || H5Pset_fapl_core(fapl.get(), 1 << 16, /*backing_store=*/0) < 0 ||
      H5Pset_file_image(fapl.get(), image.data(), image.size()) < 0) {
    return absl::InternalError(absl::StrCat(source, ": cannot set up HDF5's in-memory driver"));
  }
  static std::atomic<int> counter{0};
  const std::string name = absl::StrCat("fornax_read_", counter++, ".h5");
  hid_t file = H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (file < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a readable HDF5 file (truncated or corrupt)"));
  }
  return std::unique_ptr<H5Reader>(
      new H5Reader(file, std::move(image), std::move(source), std::move(heaps)));
}

H5Reader::~H5Reader() { H5Fclose(file_); }

bool H5Reader::Exists(const std::string& path) const {
  // H5Lexists checks one level at a time, so walk the path's prefixes.
  size_t pos = 0;
  while (true) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (H5Lexists(file_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (pos == std::string::npos) return true;
  }
}

int64_t H5Reader::CountMembers(const std::string& path) const {
  if (!Exists(path)) return 0;
  H5Handle group(H5Gopen2(file_, path.c_str(), H5P_DEFAULT), H5Gclose);
  H5G_info_t info;
  if (!group.ok() || H5Gget_info(group.get(), &info) < 0) return 0;
  return static_cast<int64_t>(info.nlinks);
}

absl::StatusOr<Tensor> H5Reader::ReadDataset(const std::string& path) const {
  const std::string where = absl::StrCat(source_, ": dataset '", path, "'");
  if (!Exists(path)) return absl::NotFoundError(absl::StrCat(where, " is missing"));
  H5L_info_t link;
  if (H5Lget_info(file_, path.c_str(), &link, H5P_DEFAULT) < 0 || link.type != H5L_TYPE_HARD) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is a soft or external link"));
  }
  H5Handle dataset(H5Dopen2(file_, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.ok()) return absl::InvalidArgumentError(absl::StrCat(where, " is not a dataset"));
  H5Handle dcpl(H5Dget_create_plist(dataset.get()), H5Pclose);
  if (!dcpl.ok() || H5Pget_external_count(dcpl.get()) != 0 ||
      H5Pget_layout(dcpl.get()) == H5D_VIRTUAL) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " stores its data outside the file (external or virtual)"));
  }
  H5Handle space(H5Dget_space(dataset.get()), H5Sclose);
  const int rank = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0 || rank > 8) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": unreadable dataspace"));
  }
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  hsize_t elements = 1;
  std::vector<int64_t> shape;
  for (hsize_t d : dims) {
    if (d != 0 && elements > kMaxElements / d) {
      return absl::InvalidArgumentError(absl::StrCat(where, " declares more than 2^31 elements"));
    }
    elements *= d;
    shape.push_back(static_cast<int64_t>(d));
  }
  H5Handle type(H5Dget_type(dataset.get()), H5Tclose);
  const H5T_class_t type_class = type.ok() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
  const size_t size = type.ok() ? H5Tget_size(type.get()) : 0;
  DType dtype;
  hid_t memory_type;
  H5Handle float16(CreateFloat16Type(), H5Tclose);
  if (type_class == H5T_FLOAT && size == 2) {
    dtype = DType::kFloat16;
    memory_type = float16.get();
  } else if (type_class == H5T_OPAQUE && size == 2 && IsBFloat16(path)) {
    dtype = DType::kBFloat16;  // Keras's bfloat16: raw bits, attribute dtype="bfloat16"
    memory_type = type.get();
  } else if (type_class == H5T_FLOAT && (size == 4 || size == 8)) {
    dtype = DType::kFloat32;  // float64 is converted by HDF5 on read
    memory_type = H5T_NATIVE_FLOAT;
  } else if (type_class == H5T_INTEGER && size == 4 && H5Tget_sign(type.get()) == H5T_SGN_2) {
    dtype = DType::kInt32;
    memory_type = H5T_NATIVE_INT32;
  } else if (type_class == H5T_INTEGER && size == 8 && H5Tget_sign(type.get()) == H5T_SGN_2) {
    dtype = DType::kInt64;
    memory_type = H5T_NATIVE_INT64;
  } else if (type_class == H5T_INTEGER && size == 1 && H5Tget_sign(type.get()) == H5T_SGN_NONE) {
    dtype = DType::kUInt8;
    memory_type = H5T_NATIVE_UINT8;
  } else {
    return absl::UnimplementedError(absl::StrCat(
        where, ": unsupported element type (class ", static_cast<int>(type_class), ", ", size,
        " bytes); expected float16/bfloat16/float32/float64, int32, int64 or uint8"));
  }
  Tensor value(dtype, Shape(shape));
  if (elements > 0 &&
      H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, value.raw_data()) < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": cannot read its data (truncated?)"));
  }
  return value;
}

bool H5Reader::IsBFloat16(const std::string& path) const {
  absl::StatusOr<std::vector<std::string>> dtype = ReadStringsAttribute(path, "dtype");
  return dtype.ok() && dtype->size() == 1 && (*dtype)[0] == "bfloat16";
}

absl::StatusOr<Tensor> H5Reader::ReadVariable(const std::string& path,
                                              const std::string& variable_name,
                                              const Tensor& like) const {
  FORNAX_ASSIGN_OR_RETURN(Tensor value, ReadDataset(path));
  const std::string where = absl::StrCat(source_, ": dataset '", path, "' (", variable_name, ")");
  if (value.shape() != like.shape()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected shape ",
                                                   like.shape().ToString(), ", received ",
                                                   value.shape().ToString()));
  }
  if (IsFloating(value.dtype()) != IsFloating(like.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected dtype ", std::string(DTypeName(like.dtype())),
                     ", received ", std::string(DTypeName(value.dtype()))));
  }
  return value.dtype() == like.dtype() ? value : value.CastTo(like.dtype());
}

absl::StatusOr<std::vector<std::string>> H5Reader::ReadStringsAttribute(
    const std::string& path, const std::string& key) const {
  const std::string where = absl::StrCat(source_, ": attribute '", key, "' of '", path, "'");
  const htri_t exists = path != "/" && !Exists(path)
                            ? 0
                            : H5Aexists_by_name(file_, path.c_str(), key.c_str(), H5P_DEFAULT);
  if (exists < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is unreadable (corrupt object header)"));
  }
  if (exists == 0) return absl::NotFoundError(absl::StrCat(where, " is missing"));
  H5Handle attribute(H5Aopen_by_name(file_, path.c_str(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                     H5Aclose);
  H5Handle space(attribute.ok() ? H5Aget_space(attribute.get()) : -1, H5Sclose);
  H5Handle type(attribute.ok() ? H5Aget_type(attribute.get()) : -1, H5Tclose);
  const hssize_t count = space.ok() ? H5Sget_simple_extent_npoints(space.get()) : -1;
  if (!type.ok() || count < 0 || count > kMaxAttributeEntries ||
      H5Sget_simple_extent_ndims(space.get()) > 1) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is unreadable or not a string list"));
  }
  std::vector<std::string> out;
  if (count == 0) return out;
  if (H5Tget_class(type.get()) != H5T_STRING) {
    return absl::InvalidArgumentError(absl::StrCat(where, " is not a string"));
  }
  const size_t n = static_cast<size_t>(count);
  if (H5Tis_variable_str(type.get()) > 0) {
    H5O_info_t object;
    if (H5Oget_info_by_name2(file_, path.c_str(), &object, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": its object is unreadable"));
    }
    FORNAX_RETURN_IF_ERROR(heaps_.CheckAttribute(image_, object.addr, key, n, where));
    H5Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
    std::vector<char*> strings(n, nullptr);
    if (!memory.ok() || H5Tset_size(memory.get(), H5T_VARIABLE) < 0 ||
        H5Tset_cset(memory.get(), H5Tget_cset(type.get())) < 0) {
      return absl::InternalError(absl::StrCat(where, ": cannot make a string type"));
    }
    const bool read = H5Aread(attribute.get(), memory.get(), strings.data()) >= 0;
    if (read) {
      for (char* s : strings) out.emplace_back(s != nullptr ? s : "");
    }
    // A read that fails part way has allocated some strings too.
    H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, strings.data());
    if (!read) return absl::InvalidArgumentError(absl::StrCat(where, ": cannot read its strings"));
    return out;
  }
  const size_t size = H5Tget_size(type.get());
  if (size == 0 || size > kMaxAttributeBytes / n) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": declares ", n, " strings of ", size, " bytes; refusing it"));
  }
  std::string buffer(size * n, '\0');
  if (H5Aread(attribute.get(), type.get(), buffer.data()) < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": cannot read its strings"));
  }
  for (size_t i = 0; i < n; ++i) {
    std::string s = buffer.substr(i * size, size);
    s.resize(std::min(s.size(), s.find('\0')));  // NUL-padded or NUL-terminated
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace fornax
