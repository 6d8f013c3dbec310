#include "server/inference/tensor_codec.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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
                                                  const ModelSignature& signature) {
  const std::vector<TensorSpec>& specs = signature.inputs;
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected one raw_input_contents entry per input (", request.inputs_size(),
                     " inputs), got ", request.raw_input_contents_size()));
  }
  DecodedRequest decoded;
  decoded.inputs.resize(specs.size());
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
    absl::StatusOr<Tensor> tensor;
    if (raw) {
      if (input.has_contents()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", spec.name, "': contents must not be given when using raw_input_contents"));
      }
      // Checked before allocating: the declared shape may be far larger
      // than what came.
      const std::string& bytes = request.raw_input_contents(k);
      const size_t expected = static_cast<size_t>(*count) * DTypeSize(spec.dtype);
      if (bytes.size() != expected) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", spec.name, "': expected ", expected, " bytes for shape ",
                         ShapeText(dims), " ", WireDatatype(spec.dtype), ", got ", bytes.size()));
      }
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
    decoded.outputs.push_back(index);
  }
  if (decoded.outputs.empty()) {
    for (size_t i = 0; i < signature.outputs.size(); ++i) {
      decoded.outputs.push_back(static_cast<int>(i));
    }
  }
  return decoded;
}

void EncodeInferResponse(const std::vector<Tensor>& outputs, const std::vector<int>& selected,
                         const ModelSignature& signature, inference::ModelInferResponse* response) {
  for (int index : selected) {
    const Tensor& tensor = outputs[static_cast<size_t>(index)];
    auto* out = response->add_outputs();
    out->set_name(signature.outputs[static_cast<size_t>(index)].name);
    out->set_datatype(WireDatatype(tensor.dtype()));
    for (int64_t d : tensor.shape().dims()) out->add_shape(d);
    response->add_raw_output_contents()->assign(static_cast<const char*>(tensor.raw_data()),
                                                tensor.byte_size());
  }
}

}  // namespace fornax::serving
