#include "engine/data/npz.h"

#include <zip.h>

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"
#include "engine/data/npy.h"

namespace fornax {
namespace {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipArchive = std::unique_ptr<zip_t, ZipCloser>;

struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

std::string ZipErrorString(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

absl::StatusOr<ZipArchive> OpenForRead(const std::string& path) {
  FORNAX_RETURN_IF_ERROR(CheckReadableFile(path));
  int code = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (z == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a valid .npz (zip) archive: ", ZipErrorString(code)));
  }
  return ZipArchive(z);
}

std::string KeyOf(const std::string& member) {
  return absl::EndsWith(member, ".npy") ? member.substr(0, member.size() - 4) : member;
}

absl::StatusOr<Tensor> ReadMember(zip_t* z, zip_uint64_t index, const std::string& path) {
  const std::string key = KeyOf(zip_get_name(z, index, 0));
  const std::string source = absl::StrCat(path, ":", key);
  zip_stat_t st;
  if (zip_stat_index(z, index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": cannot read the member's size"));
  }
  // Deflate expands at most ~1032x; a larger claim is a corrupt directory,
  // which must not make us allocate what it declares.
  if ((st.valid & ZIP_STAT_COMP_SIZE) && st.size > st.comp_size * 1100 + (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": corrupt archive: the member claims ",
                                                   st.size, " bytes from ", st.comp_size,
                                                   " compressed"));
  }
  std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen_index(z, index, 0));
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": cannot open the member: ", zip_strerror(z)));
  }
  std::string bytes(st.size, '\0');
  zip_int64_t n = zip_fread(f.get(), bytes.data(), st.size);
  if (n < 0 || static_cast<zip_uint64_t>(n) != st.size) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": truncated: the archive declares ", st.size, " bytes but only ",
                     n < 0 ? 0 : n, " could be read (", zip_file_strerror(f.get()), ")"));
  }
  return ParseNpy(bytes, source);
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListNpz(const std::string& path) {
  FORNAX_ASSIGN_OR_RETURN(ZipArchive z, OpenForRead(path));
  std::vector<std::string> keys;
  zip_int64_t n = zip_get_num_entries(z.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    keys.push_back(KeyOf(zip_get_name(z.get(), static_cast<zip_uint64_t>(i), 0)));
  }
  return keys;
}

absl::StatusOr<NamedTensors> ReadNpz(const std::string& path) {
  FORNAX_ASSIGN_OR_RETURN(ZipArchive z, OpenForRead(path));
  NamedTensors out;
  zip_int64_t n = zip_get_num_entries(z.get(), 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    auto index = static_cast<zip_uint64_t>(i);
    FORNAX_ASSIGN_OR_RETURN(Tensor t, ReadMember(z.get(), index, path));
    out.emplace_back(KeyOf(zip_get_name(z.get(), index, 0)), std::move(t));
  }
  return out;
}

absl::StatusOr<Tensor> ReadNpzMember(const std::string& path, const std::string& key) {
  FORNAX_ASSIGN_OR_RETURN(ZipArchive z, OpenForRead(path));
  zip_int64_t index = zip_name_locate(z.get(), absl::StrCat(key, ".npy").c_str(), 0);
  if (index < 0) index = zip_name_locate(z.get(), key.c_str(), 0);
  if (index < 0) {
    std::vector<std::string> keys;
    zip_int64_t n = zip_get_num_entries(z.get(), 0);
    for (zip_int64_t i = 0; i < n; ++i) {
      keys.push_back(KeyOf(zip_get_name(z.get(), static_cast<zip_uint64_t>(i), 0)));
    }
    return absl::NotFoundError(absl::StrCat(path, ": no array named '", key,
                                            "'; the archive holds: ", absl::StrJoin(keys, ", ")));
  }
  return ReadMember(z.get(), static_cast<zip_uint64_t>(index), path);
}

absl::Status WriteNpz(const std::string& path, const NamedTensors& arrays) {
  // libzip reads the sources at zip_close, so the bytes must outlive it.
  std::vector<std::string> members;
  members.reserve(arrays.size());
  for (const auto& [key, tensor] : arrays) {
    absl::StatusOr<std::string> bytes = SerializeNpy(tensor);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", key, ": ", bytes.status().message()));
    }
    members.push_back(std::move(*bytes));
  }
  int code = 0;
  ZipArchive z(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code));
  if (z == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot create: ", ZipErrorString(code)));
  }
  for (size_t i = 0; i < arrays.size(); ++i) {
    const std::string name = absl::StrCat(arrays[i].first, ".npy");
    zip_source_t* src = zip_source_buffer(z.get(), members[i].data(), members[i].size(), 0);
    if (src == nullptr) return absl::InternalError(absl::StrCat(path, ": ", zip_strerror(z.get())));
    zip_int64_t index = zip_file_add(z.get(), name.c_str(), src, ZIP_FL_OVERWRITE);
    if (index < 0) {
      zip_source_free(src);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": cannot add '", name, "': ", zip_strerror(z.get())));
    }
    zip_set_file_compression(z.get(), static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
  }
  zip_t* raw = z.release();
  if (zip_close(raw) != 0) {
    std::string message = zip_strerror(raw);
    zip_discard(raw);
    return absl::DataLossError(absl::StrCat(path, ": cannot write: ", message));
  }
  return absl::OkStatus();
}

}  // namespace fornax
