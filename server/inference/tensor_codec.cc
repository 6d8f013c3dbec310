#include "server/inference/tensor_codec.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/inference/classification.h"

namespace fornax::serving {
namespace {

using inference::InferTensorContents;
using inference::ModelInferRequest;

std::string ShapeText(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

std::string Names(const std::vector<TensorSpec>& specs) {
  std::vector<std::string> names;
  for (const TensorSpec& spec : specs) names.push_back(absl::StrCat("'", spec.name, "'"));
  return absl::StrJoin(names, ", ");
}

// A tensor of `shape` holding the typed contents field for its dtype, when
// that field holds `count` values; else InvalidArgument naming the field.
// The count is checked before allocating, so a declared shape never
// allocates more than the request brings.
template <typename T, typename Field>
absl::StatusOr<Tensor> FromValues(const Field& values, DType dtype, Shape shape, int64_t count,
                                  const std::string& name, const char* field) {
  if (static_cast<int64_t>(values.size()) != count) {
    return absl::InvalidArgumentError(absl::StrCat("input '", name, "': expected ", count,
                                                   " values in contents.", field, ", got ",
                                                   values.size()));
  }
  Tensor tensor(dtype, std::move(shape));
  T* out = tensor.data<T>();
  for (int64_t i = 0; i < count; ++i) out[i] = static_cast<T>(values[static_cast<int>(i)]);
  return tensor;
}

absl::StatusOr<Tensor> FromTypedContents(const InferTensorContents& contents, DType dtype,
                                         Shape shape, int64_t count, const std::string& name) {
  switch (dtype) {
    case DType::kFloat32:
      return FromValues<float>(contents.fp32_contents(), dtype, std::move(shape), count, name,
                               "fp32_contents");
    case DType::kInt32:
      return FromValues<int32_t>(contents.int_contents(), dtype, std::move(shape), count, name,
                                 "int_contents");
    case DType::kInt64:
      return FromValues<int64_t>(contents.int64_contents(), dtype, std::move(shape), count, name,
                                 "int64_contents");
    case DType::kUInt8:
      return FromValues<uint8_t>(contents.uint_contents(), dtype, std::move(shape), count, name,
                                 "uint_contents");
    case DType::kBool:
      return FromValues<uint8_t>(contents.bool_contents(), dtype, std::move(shape), count, name,
                                 "bool_contents");
    case DType::kFloat16:
    case DType::kBFloat16:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("input '", name, "': ", WireDatatype(dtype),
                   " has no typed contents field; send it in raw_input_contents"));
}

// The number of elements of a checked request shape (every dim >= 0); an
// InvalidArgument when its byte size would not fit in 63 bits, where
// Shape::NumElements would overflow.
absl::StatusOr<int64_t> ElementCount(const std::vector<int64_t>& dims, const TensorSpec& spec) {
  int64_t count = 1;
  int64_t bytes = static_cast<int64_t>(DTypeSize(spec.dtype));
  for (int64_t d : dims) {
    if (__builtin_mul_overflow(count, d, &count) || __builtin_mul_overflow(bytes, d, &bytes)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "': shape ",
                                                     ShapeText(dims), " ", WireDatatype(spec.dtype),
                                                     " is too large (over 2^63 bytes)"));
    }
  }
  return count;
}

// The request's shape checked against the model input; returns the batch.
absl::StatusOr<int64_t> CheckShape(const ModelInferRequest::InferInputTensor& input,
                                   const TensorSpec& spec, int64_t max_batch_size) {
  const std::vector<int64_t> got(input.shape().begin(), input.shape().end());
  const std::vector<int64_t> expected = WireShape(spec.shape);
  bool fits = got.size() == expected.size() && !got.empty();
  for (size_t d = 1; fits && d < got.size(); ++d) {
    fits = got[d] >= 0 && (expected[d] < 0 || expected[d] == got[d]);
  }
  if (!fits) {
    return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "': expected shape ",
                                                   ShapeText(expected), ", got ", ShapeText(got)));
  }
  if (got[0] < 1 || got[0] > max_batch_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", spec.name, "': batch size (shape[0]) must be in 1..",
                     max_batch_size, " (the model's max_batch_size), got ", got[0]));
  }
  return got[0];
}

using ParameterMap = google::protobuf::Map<std::string, inference::InferParameter>;

// Where a tensor's shared memory parameters point.
struct SharedMemoryRef {
  std::string region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// "input 'x'", for messages.
std::string Where(const char* kind, const std::string& name) {
  return absl::StrCat(kind, " '", name, "'");
}

// A non-negative integer parameter (tritonclient sends int64_param; HTTP
// JSON numbers over 2^63 arrive as uint64_param).
absl::StatusOr<uint64_t> NonNegative(const ParameterMap& parameters, const char* key,
                                     const char* kind, const std::string& name) {
  const inference::InferParameter& p = parameters.at(key);
  if (p.parameter_choice_case() == inference::InferParameter::kInt64Param && p.int64_param() >= 0) {
    return static_cast<uint64_t>(p.int64_param());
  }
  if (p.parameter_choice_case() == inference::InferParameter::kUint64Param) {
    return p.uint64_param();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(Where(kind, name), ": parameter '", key, "' must be a non-negative integer"));
}

// Triton's shared memory parameters of an input or requested output (`kind`
// "input" or "output", `name`), or nullopt when it has none.
absl::StatusOr<std::optional<SharedMemoryRef>> SharedMemoryParameters(
    const ParameterMap& parameters, const char* kind, const std::string& name) {
  auto region = parameters.find("shared_memory_region");
  const bool has_size = parameters.contains("shared_memory_byte_size");
  const bool has_offset = parameters.contains("shared_memory_offset");
  if (region == parameters.end()) {
    if (!has_size && !has_offset) return std::nullopt;
    return absl::InvalidArgumentError(
        absl::StrCat(Where(kind, name), ": parameter '",
                     has_size ? "shared_memory_byte_size" : "shared_memory_offset",
                     "' needs 'shared_memory_region'"));
  }
  if (region->second.parameter_choice_case() != inference::InferParameter::kStringParam) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(kind, name), ": parameter 'shared_memory_region' must be a string"));
  }
  if (!has_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(kind, name), ": parameter 'shared_memory_region' needs 'shared_memory_byte_size'"));
  }
  SharedMemoryRef ref;
  ref.region = region->second.string_param();
  absl::StatusOr<uint64_t> size = NonNegative(parameters, "shared_memory_byte_size", kind, name);
  if (!size.ok()) return size.status();
  ref.byte_size = *size;
  if (has_offset) {
    absl::StatusOr<uint64_t> offset = NonNegative(parameters, "shared_memory_offset", kind, name);
    if (!offset.ok()) return offset.status();
    ref.offset = *offset;
  }
  return ref;
}

}  // namespace

std::string WireDatatype(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "FP32";
    case DType::kFloat16:
      return "FP16";
    case DType::kBFloat16:
      return "BF16";
    case DType::kInt32:
      return "INT32";
    case DType::kInt64:
      return "INT64";
    case DType::kUInt8:
      return "UINT8";
    case DType::kBool:
      return "BOOL";
  }
  return "INVALID";
}

inference::DataType ConfigDatatype(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return inference::TYPE_FP32;
    case DType::kFloat16:
      return inference::TYPE_FP16;
    case DType::kBFloat16:
      return inference::TYPE_BF16;
    case DType::kInt32:
      return inference::TYPE_INT32;
    case DType::kInt64:
      return inference::TYPE_INT64;
    case DType::kUInt8:
      return inference::TYPE_UINT8;
    case DType::kBool:
      return inference::TYPE_BOOL;
  }
  return inference::TYPE_INVALID;
}

absl::StatusOr<DType> DTypeFromWire(const std::string& datatype) {
  for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32,
                      DType::kInt64, DType::kUInt8, DType::kBool}) {
    if (WireDatatype(dtype) == datatype) return dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "datatype '", datatype, "' is not supported (FP32, FP16, BF16, INT32, INT64, UINT8, BOOL)"));
}

std::vector<int64_t> WireShape(const Shape& shape) {
  std::vector<int64_t> dims = shape.dims();
  for (int64_t& d : dims) d = d < 0 ? -1 : d;
  if (!dims.empty()) dims[0] = -1;
  return dims;
}

absl::StatusOr<DecodedRequest> DecodeInferRequest(const ModelInferRequest& request,
                                                  const ModelSignature& signature,
                                                  const SharedMemoryRegistry& shared_memory) {
  const std::vector<TensorSpec>& specs = signature.inputs;
  const bool raw = request.raw_input_contents_size() > 0;
  // Inputs in shared memory have no raw entry (Triton's pairing).
  const auto in_band = std::count_if(request.inputs().begin(), request.inputs().end(),
                                     [](const ModelInferRequest::InferInputTensor& input) {
                                       return !input.parameters().contains("shared_memory_region");
                                     });
  if (raw && request.raw_input_contents_size() != in_band) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected one raw_input_contents entry per input not in shared memory (",
                     in_band, " inputs), got ", request.raw_input_contents_size()));
  }
  DecodedRequest decoded;
  decoded.inputs.resize(specs.size());
  int next_raw = 0;
  for (int k = 0; k < request.inputs_size(); ++k) {
    const ModelInferRequest::InferInputTensor& input = request.inputs(k);
    size_t index = 0;
    while (index < specs.size() && specs[index].name != input.name()) ++index;
    if (index == specs.size()) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected input '", input.name(),
                                                     "' for model '", signature.model_name,
                                                     "'; its inputs are ", Names(specs)));
    }
    if (decoded.inputs[index].defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input.name(), "' is given more than once"));
    }
    const TensorSpec& spec = specs[index];
    if (input.datatype() != WireDatatype(spec.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "': expected datatype ",
                                                     WireDatatype(spec.dtype), ", got '",
                                                     input.datatype(), "'"));
    }
    absl::StatusOr<int64_t> batch = CheckShape(input, spec, signature.max_batch_size);
    if (!batch.ok()) return batch.status();
    if (decoded.batch != 0 && *batch != decoded.batch) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "': batch size ", *batch,
                                                     " differs from the other inputs' ",
                                                     decoded.batch));
    }
    decoded.batch = *batch;
    std::vector<int64_t> dims(input.shape().begin(), input.shape().end());
    absl::StatusOr<int64_t> count = ElementCount(dims, spec);
    if (!count.ok()) return count.status();
    // The byte count is checked before allocating: the declared shape may
    // be far larger than what came.
    const size_t expected = static_cast<size_t>(*count) * DTypeSize(spec.dtype);
    auto wrong_size = [&](const std::string& got) {
      return absl::InvalidArgumentError(absl::StrCat("input '", spec.name, "': expected ", expected,
                                                     " bytes for shape ", ShapeText(dims), " ",
                                                     WireDatatype(spec.dtype), ", got ", got));
    };
    absl::StatusOr<std::optional<SharedMemoryRef>> in_region =
        SharedMemoryParameters(input.parameters(), "input", spec.name);
    if (!in_region.ok()) return in_region.status();
    absl::StatusOr<Tensor> tensor;
    if (in_region->has_value()) {
      const SharedMemoryRef& ref = **in_region;
      if (input.has_contents()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", spec.name, "': has both shared memory parameters and contents"));
      }
      if (ref.byte_size != expected) {
        return wrong_size(absl::StrCat("shared_memory_byte_size ", ref.byte_size));
      }
      absl::StatusOr<SharedMemorySpan> span =
          shared_memory.Find(ref.region, ref.offset, ref.byte_size, Where("input", spec.name));
      if (!span.ok()) return span.status();
      tensor = Tensor(spec.dtype, Shape(std::move(dims)));
      absl::Status read = span->Read(tensor->raw_data());
      if (!read.ok()) return read;
    } else if (raw) {
      if (input.has_contents()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", spec.name, "': contents must not be given when using raw_input_contents"));
      }
      const std::string& bytes = request.raw_input_contents(next_raw++);
      if (bytes.size() != expected) return wrong_size(std::to_string(bytes.size()));
      tensor = Tensor(spec.dtype, Shape(std::move(dims)));
      std::memcpy(tensor->raw_data(), bytes.data(), bytes.size());
    } else if (input.has_contents()) {
      tensor = FromTypedContents(input.contents(), spec.dtype, Shape(std::move(dims)), *count,
                                 spec.name);
      if (!tensor.ok()) return tensor.status();
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "input '", spec.name, "': no data (neither raw_input_contents nor contents)"));
    }
    decoded.inputs[index] = *std::move(tensor);
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!decoded.inputs[i].defined()) {
      return absl::InvalidArgumentError(absl::StrCat("input '", specs[i].name,
                                                     "' is missing; model '", signature.model_name,
                                                     "' expects ", Names(specs)));
    }
  }
  for (const ModelInferRequest::InferRequestedOutputTensor& wanted : request.outputs()) {
    int index = 0;
    const int n = static_cast<int>(signature.outputs.size());
    while (index < n && signature.outputs[static_cast<size_t>(index)].name != wanted.name()) {
      ++index;
    }
    if (index == n) {
      return absl::InvalidArgumentError(absl::StrCat("unknown output '", wanted.name(),
                                                     "' requested; model '", signature.model_name,
                                                     "' has outputs ", Names(signature.outputs)));
    }
    RequestedOutput output{index, std::nullopt};
    absl::StatusOr<std::optional<SharedMemoryRef>> ref =
        SharedMemoryParameters(wanted.parameters(), "output", wanted.name());
    if (!ref.ok()) return ref.status();
    absl::StatusOr<int64_t> classes =
        ClassificationCount(wanted.parameters(), signature.outputs[static_cast<size_t>(index)]);
    if (!classes.ok()) return classes.status();
    output.classification = *classes;
    if (output.classification > 0 && ref->has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("output '", wanted.name(),
                       "': the 'classification' and shared memory parameters cannot be combined "
                       "(classes are answered in the reply)"));
    }
    if (ref->has_value()) {
      absl::StatusOr<SharedMemorySpan> span = shared_memory.Find(
          (*ref)->region, (*ref)->offset, (*ref)->byte_size, Where("output", wanted.name()));
      if (!span.ok()) return span.status();
      output.shared_memory = *std::move(span);
    }
    decoded.outputs.push_back(std::move(output));
  }
  if (decoded.outputs.empty()) {
    for (size_t i = 0; i < signature.outputs.size(); ++i) {
      decoded.outputs.push_back({static_cast<int>(i), std::nullopt});
    }
  }
  return decoded;
}

absl::Status EncodeInferResponse(const std::vector<Tensor>& outputs,
                                 const std::vector<RequestedOutput>& requested,
                                 const ModelSignature& signature,
                                 inference::ModelInferResponse* response) {
  for (const RequestedOutput& wanted : requested) {
    const Tensor& tensor = outputs[static_cast<size_t>(wanted.index)];
    const std::string& name = signature.outputs[static_cast<size_t>(wanted.index)].name;
    auto* out = response->add_outputs();
    out->set_name(name);
    if (wanted.classification > 0) {
      static const std::vector<std::string> kNoLabels;
      const auto labels = signature.labels.find(name);
      Classification classes =
          TopClasses(tensor, wanted.classification,
                     labels == signature.labels.end() ? kNoLabels : labels->second.labels);
      out->set_datatype("BYTES");
      for (int64_t d : classes.shape) out->add_shape(d);
      *response->add_raw_output_contents() = std::move(classes.raw);
      continue;
    }
    out->set_datatype(WireDatatype(tensor.dtype()));
    for (int64_t d : tensor.shape().dims()) out->add_shape(d);
    std::string* raw = response->add_raw_output_contents();
    const char* bytes = static_cast<const char*>(tensor.raw_data());
    if (!wanted.shared_memory.has_value()) {
      raw->assign(bytes, tensor.byte_size());
      continue;
    }
    // The entry stays (empty) so that raw_output_contents[i] still pairs
    // with outputs[i].
    const SharedMemorySpan& span = *wanted.shared_memory;
    if (tensor.byte_size() > span.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("output '", name, "': needs ", tensor.byte_size(), " bytes for shape ",
                       ShapeText(tensor.shape().dims()), " ", WireDatatype(tensor.dtype()),
                       ", but shared_memory_byte_size is ", span.size()));
    }
    absl::Status written = span.Write(bytes, tensor.byte_size());
    if (!written.ok()) return written;
  }
  return absl::OkStatus();
}

}  // namespace fornax::serving
