#include "engine/data/idx.h"

#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"

namespace fornax {
namespace {

constexpr uint8_t kIdxUInt8 = 0x08;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

// Reads up to `len` bytes; returns how many were read. A stream that ends
// early (a cut gzip file reports Z_BUF_ERROR) just yields fewer bytes so the
// caller can report the truncation in terms of the declared size; any other
// zlib error is DataLoss.
absl::StatusOr<int64_t> ReadFully(gzFile f, void* dst, int64_t len, const std::string& path) {
  int64_t done = 0;
  auto* out = static_cast<unsigned char*>(dst);
  while (done < len) {
    unsigned chunk = static_cast<unsigned>(std::min<int64_t>(len - done, 1 << 30));
    int n = gzread(f, out + done, chunk);
    if (n < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      if (errnum == Z_BUF_ERROR) break;  // gzip stream cut short
      return absl::DataLossError(absl::StrCat(path, ": corrupt gzip data: ", msg));
    }
    if (n == 0) break;
    done += n;
  }
  return done;
}

std::string ItemNoun(int rank) {
  if (rank == 1) return "labels";
  if (rank == 3) return "images";
  return "items";
}

}  // namespace

absl::StatusOr<Tensor> ReadIdx(const std::string& path) {
  FORNAX_RETURN_IF_ERROR(CheckReadableFile(path));
  GzFile f(gzopen(path.c_str(), "rb"));
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));

  uint8_t magic[4];
  FORNAX_ASSIGN_OR_RETURN(int64_t got, ReadFully(f.get(), magic, 4, path));
  if (got < 4 || magic[0] != 0 || magic[1] != 0 || magic[3] == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not an IDX file: expected the magic 00 00 <type> <rank>, got %s", path,
        got < 4 ? absl::StrCat(got, " bytes")
                : absl::StrFormat("%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3])));
  }
  if (magic[2] != kIdxUInt8) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: unsupported IDX element type 0x%02x; Fornax reads uint8 (0x08)", path, magic[2]));
  }
  const int rank = magic[3];
  std::vector<uint8_t> raw_dims(static_cast<size_t>(rank) * 4);
  FORNAX_ASSIGN_OR_RETURN(got, ReadFully(f.get(), raw_dims.data(), rank * 4, path));
  if (got < rank * 4) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: truncated: the header declares %d dimensions but the file ends after %d bytes", path,
        rank, 4 + got));
  }
  std::vector<int64_t> dims;
  int64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    const uint8_t* d = &raw_dims[static_cast<size_t>(i) * 4];
    int64_t n = (int64_t{d[0]} << 24) | (int64_t{d[1]} << 16) | (int64_t{d[2]} << 8) | d[3];
    dims.push_back(n);
    total *= n;
    if (total > (int64_t{1} << 40)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": the header declares an implausible size (over 1 TiB)"));
    }
  }

  // Read before allocating the tensor: a corrupt header must not make us
  // reserve what it declares.
  std::string body;
  while (static_cast<int64_t>(body.size()) < total) {
    const size_t old = body.size();
    const size_t chunk = static_cast<size_t>(std::min<int64_t>(total - old, int64_t{64} << 20));
    body.resize(old + chunk);
    FORNAX_ASSIGN_OR_RETURN(got, ReadFully(f.get(), body.data() + old, chunk, path));
    body.resize(old + static_cast<size_t>(got));
    if (got < static_cast<int64_t>(chunk)) break;
  }
  if (static_cast<int64_t>(body.size()) < total) {
    std::vector<int64_t> item(dims.begin() + 1, dims.end());
    std::string of = item.empty() ? "" : absl::StrCat(" of ", absl::StrJoin(item, "x"));
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: truncated: header declares %d %s%s (%d bytes) but the file holds %d bytes", path,
        rank == 0 ? 1 : dims[0], ItemNoun(rank), of, total, body.size()));
  }
  Tensor t(DType::kUInt8, Shape(dims));
  if (total > 0) std::memcpy(t.raw_data(), body.data(), static_cast<size_t>(total));
  uint8_t extra;
  FORNAX_ASSIGN_OR_RETURN(got, ReadFully(f.get(), &extra, 1, path));
  if (got != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d bytes of data expected after the header, but the file holds more", path, total));
  }
  return t;
}

}  // namespace fornax
