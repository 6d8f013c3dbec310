#include "engine/keras/callbacks/callback_state.h"

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"

namespace fornax {
namespace {

absl::Status Expected(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": expected ", what));
}

std::string Hex(const void* data, size_t size) {
  return absl::BytesToHexString(absl::string_view(static_cast<const char*>(data), size));
}

// Fills `size` bytes at `out` from `hex`, which must hold exactly that many.
absl::Status FromHex(const std::string& hex, void* out, size_t size, const std::string& field) {
  bool ok = hex.size() == 2 * size;
  for (char c : hex) ok = ok && absl::ascii_isxdigit(static_cast<unsigned char>(c));
  if (!ok) return Expected(field, absl::StrCat(2 * size, " hex digits"));
  const std::string bytes = absl::HexStringToBytes(hex);
  std::memcpy(out, bytes.data(), size);
  return absl::OkStatus();
}

}  // namespace

nlohmann::json TensorStateJson(const Tensor& value) {
  const auto* data = static_cast<const uint8_t*>(value.raw_data());
  return {{"dtype", std::string(DTypeName(value.dtype()))},
          {"shape", value.shape().dims()},
          {"bytes", nlohmann::json::binary({data, data + value.byte_size()})}};
}

absl::StatusOr<Tensor> ParseTensorState(const nlohmann::json& json, const std::string& field) {
  if (!json.is_object() || !json.contains("dtype") || !json["dtype"].is_string() ||
      !json.contains("shape") || !json["shape"].is_array() ||
      !(json.contains("bytes") ? json["bytes"].is_binary()
                               : json.contains("hex") && json["hex"].is_string())) {
    return Expected(field, R"({"dtype": string, "shape": [int...], "bytes": binary})");
  }
  absl::StatusOr<DType> dtype = ParseDType(json["dtype"].get<std::string>());
  if (!dtype.ok()) return Expected(field + ".dtype", "a dtype name");
  std::vector<int64_t> dims;
  for (const nlohmann::json& dim : json["shape"]) {
    if (!dim.is_number_integer() || dim.get<int64_t>() < 0 || dim.get<int64_t>() > (1 << 20)) {
      return Expected(field + ".shape", "dims in [0, 2^20]");
    }
    dims.push_back(dim.get<int64_t>());
  }
  Tensor value(*dtype, Shape(std::move(dims)));
  if (!json.contains("bytes")) {
    FORNAX_RETURN_IF_ERROR(FromHex(json["hex"].get<std::string>(), value.raw_data(),
                                   value.byte_size(), field + ".hex"));
    return value;
  }
  const nlohmann::json::binary_t& bytes = json["bytes"].get_binary();
  if (bytes.size() != value.byte_size()) {
    return Expected(field + ".bytes",
                    absl::StrCat(value.byte_size(), " bytes, got ", bytes.size()));
  }
  if (!bytes.empty()) std::memcpy(value.raw_data(), bytes.data(), bytes.size());
  return value;
}

nlohmann::json DoubleStateJson(std::optional<double> value) {
  if (!value) return nullptr;
  uint64_t bits;
  std::memcpy(&bits, &*value, sizeof(bits));
  // Big-endian digits, so the text reads as the bit pattern does.
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
  return Hex(bytes, sizeof(bytes));
}

absl::StatusOr<std::optional<double>> ParseDoubleState(const nlohmann::json& json,
                                                       const std::string& field) {
  if (json.is_null()) return std::optional<double>();
  if (!json.is_string()) return Expected(field, "null or 16 hex digits (a double's bits)");
  unsigned char bytes[8];
  FORNAX_RETURN_IF_ERROR(FromHex(json.get<std::string>(), bytes, sizeof(bytes), field));
  uint64_t bits = 0;
  for (unsigned char byte : bytes) bits = bits << 8 | byte;
  double value;
  std::memcpy(&value, &bits, sizeof(value));
  return std::optional<double>(value);
}

absl::StatusOr<int> ParseCountState(const nlohmann::json& state, const std::string& field) {
  if (!state.is_object() || !state.contains(field) || !state[field].is_number_integer() ||
      state[field].get<int64_t>() < 0 || state[field].get<int64_t>() > (1 << 30)) {
    return Expected(field, "an integer in [0, 2^30]");
  }
  return static_cast<int>(state[field].get<int64_t>());
}

}  // namespace fornax
