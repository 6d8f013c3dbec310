#include "engine/data/npy.h"

#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"

namespace fornax {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes before the array data
};

// Finds `'key':` in the header dict and returns the text after it.
std::optional<std::string_view> ValueAfterKey(std::string_view dict, std::string_view key) {
  for (char quote : {'\'', '"'}) {
    std::string needle =
        absl::StrCat(std::string(1, quote), std::string(key), std::string(1, quote));
    size_t at = dict.find(needle);
    if (at == std::string_view::npos) continue;
    size_t colon = dict.find(':', at + needle.size());
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view rest = dict.substr(colon + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return rest;
  }
  return std::nullopt;
}

absl::StatusOr<NpyHeader> ParseHeader(std::string_view bytes, const std::string& source) {
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a valid .npy file: ", what));
  };
  if (bytes.size() < kMagicLen + 4 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0) {
    return bad("expected the magic \"\\x93NUMPY\" at the start");
  }
  const auto major = static_cast<uint8_t>(bytes[6]);
  size_t header_len;
  size_t prefix;
  auto byte = [&](size_t i) { return static_cast<size_t>(static_cast<uint8_t>(bytes[i])); };
  if (major == 1) {
    header_len = byte(8) | (byte(9) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad("header cut short");
    header_len = byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24);
    prefix = 12;
  } else {
    return bad(absl::StrCat("unsupported format version ", major, ".", byte(7)));
  }
  if (bytes.size() < prefix + header_len) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": truncated: the .npy header declares ",
                                                   header_len, " bytes but the file holds ",
                                                   bytes.size() - prefix));
  }
  std::string_view dict = bytes.substr(prefix, header_len);
  NpyHeader h;
  h.data_offset = prefix + header_len;

  std::optional<std::string_view> descr = ValueAfterKey(dict, "descr");
  if (!descr || descr->empty() || ((*descr)[0] != '\'' && (*descr)[0] != '"')) {
    return bad("header has no 'descr' string");
  }
  size_t end = descr->find((*descr)[0], 1);
  if (end == std::string_view::npos) return bad("unterminated 'descr'");
  h.descr = std::string(descr->substr(1, end - 1));

  std::optional<std::string_view> fortran = ValueAfterKey(dict, "fortran_order");
  if (!fortran) return bad("header has no 'fortran_order'");
  h.fortran_order = fortran->starts_with("True");

  std::optional<std::string_view> shape = ValueAfterKey(dict, "shape");
  if (!shape || shape->empty() || (*shape)[0] != '(') return bad("header has no 'shape' tuple");
  size_t close = shape->find(')');
  if (close == std::string_view::npos) return bad("unterminated 'shape' tuple");
  const std::string dims_text(shape->substr(1, close - 1));
  for (absl::string_view part : absl::StrSplit(dims_text, ',')) {
    absl::string_view dim = absl::StripAsciiWhitespace(part);
    if (dim.empty()) continue;
    absl::string_view digits = dim;
    if (absl::EndsWith(digits, "L")) digits.remove_suffix(1);  // Python 2 writers
    int64_t n;
    if (!absl::SimpleAtoi(digits, &n) || n < 0) {
      return bad(absl::StrCat("bad dimension '", dim, "' in 'shape'"));
    }
    h.shape.push_back(n);
  }
  return h;
}

// The engine dtype for a NumPy descr; float64 is read as float32.
struct DescrInfo {
  DType dtype;
  size_t file_item_size;
};

absl::StatusOr<DescrInfo> DescrToDType(const std::string& descr, const std::string& source) {
  if (descr == "<f4") return DescrInfo{DType::kFloat32, 4};
  if (descr == "<f2") return DescrInfo{DType::kFloat16, 2};
  if (descr == "<f8") return DescrInfo{DType::kFloat32, 8};
  if (descr == "<i4") return DescrInfo{DType::kInt32, 4};
  if (descr == "<i8") return DescrInfo{DType::kInt64, 8};
  if (descr == "|u1" || descr == "<u1") return DescrInfo{DType::kUInt8, 1};
  if (descr == "|b1" || descr == "<b1") return DescrInfo{DType::kBool, 1};
  return absl::InvalidArgumentError(absl::StrCat(
      source, ": unsupported .npy dtype '", descr,
      "'; expected one of <f4 (float32), <f2 (float16), <f8 (float64, read as float32), "
      "<i4 (int32), <i8 (int64), |u1 (uint8), |b1 (bool), little-endian"));
}

absl::StatusOr<std::string> DTypeToDescr(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return std::string("<f4");
    case DType::kFloat16:
      return std::string("<f2");
    case DType::kInt32:
      return std::string("<i4");
    case DType::kInt64:
      return std::string("<i8");
    case DType::kUInt8:
      return std::string("|u1");
    case DType::kBool:
      return std::string("|b1");
    case DType::kBFloat16:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot write dtype ", std::string(DTypeName(dtype)),
                   " to .npy: NumPy has no such dtype; cast to float32 first"));
}

// Checks the header against the bytes available and fills a tensor.
absl::StatusOr<Tensor> TensorFromHeader(const NpyHeader& h, std::string_view data,
                                        const std::string& source) {
  if (h.fortran_order) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     ": the array is stored in Fortran order; Fornax reads C-order arrays only "
                     "(save np.ascontiguousarray(a) instead)"));
  }
  FORNAX_ASSIGN_OR_RETURN(DescrInfo info, DescrToDType(h.descr, source));
  Shape shape(h.shape);
  const int64_t n = shape.NumElements();
  const size_t want = static_cast<size_t>(n) * info.file_item_size;
  if (data.size() < want) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": truncated: header declares shape (", absl::StrJoin(h.shape, ", "),
                     ") of ", h.descr, " (", want, " bytes) but the file holds ", data.size()));
  }
  if (data.size() > want) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": header declares ", want, " bytes of data but the file holds ", data.size()));
  }
  Tensor t(info.dtype, shape);
  if (info.file_item_size == 8 && info.dtype == DType::kFloat32) {
    float* out = t.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, data.data() + i * 8, 8);
      out[i] = static_cast<float>(v);
    }
  } else {
    std::memcpy(t.raw_data(), data.data(), want);
  }
  return t;
}

}  // namespace

absl::StatusOr<Tensor> ParseNpy(std::string_view bytes, const std::string& source) {
  FORNAX_ASSIGN_OR_RETURN(NpyHeader h, ParseHeader(bytes, source));
  return TensorFromHeader(h, bytes.substr(h.data_offset), source);
}

absl::StatusOr<Tensor> ReadNpy(const std::string& path) {
  FORNAX_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return ParseNpy(bytes, path);
}

absl::StatusOr<std::string> SerializeNpy(const Tensor& tensor) {
  FORNAX_ASSIGN_OR_RETURN(std::string descr, DTypeToDescr(tensor.dtype()));
  const auto& dims = tensor.shape().dims();
  std::string shape = absl::StrJoin(dims, ", ");
  if (dims.size() == 1) shape += ",";
  std::string dict =
      absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (", shape, "), }");
  // np.save pads the header with spaces so the data starts 64-byte aligned.
  size_t unpadded = kMagicLen + 4 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict.push_back('\n');
  std::string out(kMagic, kMagicLen);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>(dict.size() >> 8));
  out += dict;
  out.append(static_cast<const char*>(tensor.raw_data()), tensor.byte_size());
  return out;
}

absl::Status WriteNpy(const std::string& path, const Tensor& tensor) {
  absl::StatusOr<std::string> bytes = SerializeNpy(tensor);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes.status().message()));
  }
  return WriteStringToFile(path, *bytes);
}

}  // namespace fornax
