#include "server/inference/classification.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/data/file_util.h"
#include "server/inference/tensor_codec.h"

namespace fornax::serving {
namespace {

// The parameter's value for an error message.
std::string Shown(const inference::InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kInt64Param:
      return std::to_string(p.int64_param());
    case inference::InferParameter::kUint64Param:
      return std::to_string(p.uint64_param());
    case inference::InferParameter::kDoubleParam:
      return std::to_string(p.double_param());
    case inference::InferParameter::kBoolParam:
      return p.bool_param() ? "true" : "false";
    case inference::InferParameter::kStringParam:
      return absl::StrCat("'", p.string_param(), "'");
    default:
      return "nothing";
  }
}

// Whether value a ranks above b: descending, NaN below every number (so
// that the order is a strict weak ordering).
template <typename T>
bool Above(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a > b;
}

template <typename T>
void AppendTopClasses(const T* values, int64_t rows, int64_t classes, int64_t count,
                      const std::vector<std::string>& labels, std::string* raw) {
  std::vector<int64_t> order(static_cast<size_t>(classes));
  for (int64_t row = 0; row < rows; ++row) {
    const T* v = values + row * classes;
    std::iota(order.begin(), order.end(), 0);
    // Only the top `count` are ordered; equal values keep index order.
    std::partial_sort(order.begin(), order.begin() + count, order.end(), [v](int64_t i, int64_t j) {
      return Above(v[i], v[j]) || (!Above(v[j], v[i]) && i < j);
    });
    for (int64_t k = 0; k < count; ++k) {
      const int64_t index = order[static_cast<size_t>(k)];
      // Triton's text: std::to_string ("%f" for floats; a uint8_t is
      // promoted to int, so decimal).
      std::string text = absl::StrCat(std::to_string(v[index]), ":", index);
      const size_t i = static_cast<size_t>(index);
      if (i < labels.size() && !labels[i].empty()) absl::StrAppend(&text, ":", labels[i]);
      const uint32_t length = static_cast<uint32_t>(text.size());
      raw->append(reinterpret_cast<const char*>(&length), sizeof(length));
      raw->append(text);
    }
  }
}

}  // namespace

absl::StatusOr<int64_t> ClassificationCount(
    const google::protobuf::Map<std::string, inference::InferParameter>& parameters,
    const TensorSpec& output) {
  auto it = parameters.find("classification");
  if (it == parameters.end()) return 0;
  const inference::InferParameter& p = it->second;
  const bool positive = (p.parameter_choice_case() == inference::InferParameter::kInt64Param &&
                         p.int64_param() >= 1) ||
                        (p.parameter_choice_case() == inference::InferParameter::kUint64Param &&
                         p.uint64_param() >= 1);
  if (!positive) {
    return absl::InvalidArgumentError(
        absl::StrCat("output '", output.name,
                     "': parameter 'classification' must be a positive integer (how many "
                     "classes to return), got ",
                     Shown(p)));
  }
  switch (output.dtype) {
    case DType::kFloat32:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt8:
      break;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kBool:
      return absl::InvalidArgumentError(
          absl::StrCat("output '", output.name, "': classification is not available for datatype ",
                       WireDatatype(output.dtype), " (only FP32, INT32, INT64, UINT8)"));
  }
  // Over the class count is clamped by TopClasses; a uint64 above 2^63
  // cannot be a count of anything smaller.
  return p.parameter_choice_case() == inference::InferParameter::kInt64Param
             ? p.int64_param()
             : static_cast<int64_t>(std::min<uint64_t>(p.uint64_param(), INT64_MAX));
}

Classification TopClasses(const Tensor& output, int64_t count,
                          const std::vector<std::string>& labels) {
  const std::vector<int64_t>& dims = output.shape().dims();
  const int64_t rows = dims.empty() ? 1 : dims[0];
  const int64_t classes = rows == 0 ? 0 : output.num_elements() / rows;
  count = std::min(count, classes);
  Classification out;
  out.shape = {rows, count};
  switch (output.dtype()) {
    case DType::kFloat32:
      AppendTopClasses(output.data<float>(), rows, classes, count, labels, &out.raw);
      break;
    case DType::kInt32:
      AppendTopClasses(output.data<int32_t>(), rows, classes, count, labels, &out.raw);
      break;
    case DType::kInt64:
      AppendTopClasses(output.data<int64_t>(), rows, classes, count, labels, &out.raw);
      break;
    case DType::kUInt8:
      AppendTopClasses(output.data<uint8_t>(), rows, classes, count, labels, &out.raw);
      break;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kBool:
      break;  // refused by ClassificationCount
  }
  return out;
}

std::vector<std::string> SplitLabels(std::string_view text) {
  // std::getline's lines: the text after the last '\n' is one when not
  // empty.
  std::vector<std::string> lines =
      absl::StrSplit(absl::string_view(text.data(), text.size()), '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

absl::StatusOr<std::map<std::string, ClassLabels>> ReadClassLabels(const ModelSettings& settings) {
  std::map<std::string, ClassLabels> labels;
  for (const LabelFile& file : settings.label_files) {
    absl::StatusOr<std::string> text = ReadFileToString(file.path);
    if (!text.ok()) {
      return absl::Status(text.status().code(),
                          absl::StrCat(settings.source, ": output '", file.output,
                                       "'.label_filename: ", text.status().message()));
    }
    labels[file.output] = ClassLabels{file.filename, SplitLabels(*text)};
  }
  return labels;
}

std::vector<std::string> BytesElements(const std::string& raw) {
  std::vector<std::string> elements;
  size_t at = 0;
  uint32_t length = 0;
  while (at + sizeof(length) <= raw.size()) {
    std::memcpy(&length, raw.data() + at, sizeof(length));
    at += sizeof(length);
    elements.push_back(raw.substr(at, length));
    at += length;
  }
  return elements;
}

}  // namespace fornax::serving
