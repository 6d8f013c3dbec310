#include "server/inference/http_infer.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/tensor/dtype.h"
#include "server/inference/classification.h"
#include "server/inference/http_json.h"
#include "server/inference/tensor_codec.h"

namespace fornax::serving {
namespace {

using nlohmann::json;

// Deeper "data" nesting than any tensor rank is refused (and the walk over
// it stays shallow).
constexpr int kMaxDataDepth = 32;

// A JSON value for an error message, cut short.
std::string Shown(const json& value) {
  if (value.is_structured()) return value.type_name();
  std::string text = DumpJson(value);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

template <typename T>
void Append(T value, std::string* out) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

// An integer JSON value within [lo, hi], else nullopt.
std::optional<int64_t> IntegerIn(const json& value, int64_t lo, int64_t hi) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(hi)) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (!value.is_number_integer()) return std::nullopt;
  const int64_t v = value.get<int64_t>();
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// Appends one element of `dtype`, little-endian as raw_input_contents.
absl::Status AppendElement(const json& value, DType dtype, std::string* out) {
  const char* expected = nullptr;
  switch (dtype) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16: {
      if (!value.is_number()) {
        expected = "a number";
        break;
      }
      const float f = value.get<float>();
      if (dtype == DType::kFloat32) Append(f, out);
      if (dtype == DType::kFloat16) Append(FloatToHalf(f), out);
      if (dtype == DType::kBFloat16) Append(FloatToBFloat16(f), out);
      return absl::OkStatus();
    }
    case DType::kInt32:
      if (auto v = IntegerIn(value, INT32_MIN, INT32_MAX)) {
        Append(static_cast<int32_t>(*v), out);
        return absl::OkStatus();
      }
      expected = "an integer in -2147483648..2147483647";
      break;
    case DType::kInt64:
      if (auto v = IntegerIn(value, INT64_MIN, INT64_MAX)) {
        Append(*v, out);
        return absl::OkStatus();
      }
      expected = "an integer in -2^63..2^63-1";
      break;
    case DType::kUInt8:
      if (auto v = IntegerIn(value, 0, 255)) {
        Append(static_cast<uint8_t>(*v), out);
        return absl::OkStatus();
      }
      expected = "an integer in 0..255";
      break;
    case DType::kBool:
      if (value.is_boolean()) {
        Append(static_cast<uint8_t>(value.get<bool>() ? 1 : 0), out);
        return absl::OkStatus();
      }
      expected = "true or false";
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("expected ", expected, ", got ", Shown(value)));
}

// Appends the elements of `data` (nested arrays read row-major) to `out`;
// counts them in `count`.
absl::Status FlattenData(const json& data, DType dtype, int depth, int64_t* count,
                         std::string* out) {
  if (!data.is_array()) {
    absl::Status status = AppendElement(data, dtype, out);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("element ", *count, ": ", status.message()));
    }
    ++*count;
    return absl::OkStatus();
  }
  if (depth >= kMaxDataDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("arrays nested deeper than ", kMaxDataDepth, " levels"));
  }
  for (const json& element : data) {
    absl::Status status = FlattenData(element, dtype, depth + 1, count, out);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// The shape's element count, or -1 when it does not fit in 63 bits.
int64_t ElementCount(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(count, d, &count)) return -1;
  }
  return count;
}

// A JSON value as a protocol parameter (Triton's: string, bool, integer,
// double).
absl::Status SetParameter(const std::string& name, const json& value,
                          inference::InferParameter* out) {
  if (value.is_string()) {
    out->set_string_param(value.get<std::string>());
  } else if (value.is_boolean()) {
    out->set_bool_param(value.get<bool>());
  } else if (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX) {
    out->set_uint64_param(value.get<uint64_t>());
  } else if (value.is_number_integer()) {
    out->set_int64_param(value.get<int64_t>());
  } else if (value.is_number_float()) {
    out->set_double_param(value.get<double>());
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter '", name, "': expected a string, number or boolean, got ", Shown(value)));
  }
  return absl::OkStatus();
}

// `where`'s "parameters" object (empty when absent); InvalidArgument when it
// is something else.
absl::StatusOr<json> Parameters(const json& object, const std::string& where) {
  auto it = object.find("parameters");
  if (it == object.end()) return json::object();
  if (!it->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": 'parameters' must be an object, got ", Shown(*it)));
  }
  return *it;
}

constexpr const char* kSharedMemoryParameters[] = {
    "shared_memory_region", "shared_memory_byte_size", "shared_memory_offset"};

// Copies Triton's shared memory parameters (checked by DecodeInferRequest)
// from `parameters` to `out`; returns whether there were any.
absl::StatusOr<bool> CopySharedMemoryParameters(
    const json& parameters, google::protobuf::Map<std::string, inference::InferParameter>* out) {
  bool any = false;
  for (const char* key : kSharedMemoryParameters) {
    auto it = parameters.find(key);
    if (it == parameters.end()) continue;
    absl::Status status = SetParameter(key, *it, &(*out)[key]);
    if (!status.ok()) return status;
    any = true;
  }
  return any;
}

// Where an input's binary data is: raw_input_contents(raw) gets `size`
// bytes at `offset` of the binary data.
struct BinarySlice {
  int raw;
  size_t offset;
  size_t size;
};

// Decodes inputs[index] into `request`; an input with binary data takes the
// next bytes of the `binary_size` after the JSON from `*offset` (`slices`
// says which, for the caller to fill in).
absl::Status DecodeInput(const json& input, size_t index, size_t binary_size, size_t* offset,
                         std::vector<BinarySlice>* slices, inference::ModelInferRequest* request) {
  if (!input.is_object() || !input.contains("name") || !input["name"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs[", index, "]: expected an object with a string 'name'"));
  }
  const std::string name = input["name"].get<std::string>();
  const std::string where = absl::StrCat("input '", name, "'");
  auto datatype = input.find("datatype");
  if (datatype == input.end() || !datatype->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected a string 'datatype'"));
  }
  std::vector<int64_t> shape;
  auto shape_json = input.find("shape");
  bool shape_ok = shape_json != input.end() && shape_json->is_array();
  if (shape_ok) {
    for (const json& d : *shape_json) {
      std::optional<int64_t> dim = IntegerIn(d, 0, INT64_MAX);
      shape_ok = shape_ok && dim.has_value();
      if (dim) shape.push_back(*dim);
    }
  }
  if (!shape_ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": 'shape' must be an array of non-negative integers, got ",
                     shape_json == input.end() ? "nothing" : Shown(*shape_json)));
  }
  absl::StatusOr<json> parameters = Parameters(input, where);
  if (!parameters.ok()) return parameters.status();

  inference::ModelInferRequest::InferInputTensor* tensor = request->add_inputs();
  tensor->set_name(name);
  tensor->set_datatype(datatype->get<std::string>());
  for (int64_t d : shape) tensor->add_shape(d);
  auto size = parameters->find("binary_data_size");
  auto data = input.find("data");
  absl::StatusOr<bool> in_shared_memory =
      CopySharedMemoryParameters(*parameters, tensor->mutable_parameters());
  if (!in_shared_memory.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", in_shared_memory.status().message()));
  }
  if (*in_shared_memory) {
    // Read from the region by DecodeInferRequest; no raw entry (Triton's
    // pairing of raw entries with the inputs not in shared memory).
    if (data != input.end() || size != parameters->end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": has shared memory parameters and also ",
                       data != input.end() ? "'data'" : "the 'binary_data_size' parameter"));
    }
    return absl::OkStatus();
  }
  std::string* raw = request->add_raw_input_contents();
  if (size != parameters->end()) {
    if (data != input.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": has both 'data' and the 'binary_data_size' parameter"));
    }
    std::optional<int64_t> bytes = IntegerIn(*size, 0, INT64_MAX);
    if (!bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": 'binary_data_size' must be a non-negative integer, got ", Shown(*size)));
    }
    const size_t left = binary_size - *offset;
    if (static_cast<uint64_t>(*bytes) > left) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": binary_data_size is ", *bytes,
                                                     " but only ", left,
                                                     " bytes of binary data are left in the body"));
    }
    slices->push_back(
        {request->raw_input_contents_size() - 1, *offset, static_cast<size_t>(*bytes)});
    *offset += static_cast<size_t>(*bytes);
    return absl::OkStatus();
  }
  if (data == input.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no 'data' and no 'binary_data_size' parameter"));
  }
  absl::StatusOr<DType> dtype = DTypeFromWire(tensor->datatype());
  if (!dtype.ok())
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", dtype.status().message()));
  int64_t count = 0;
  absl::Status flattened = FlattenData(*data, *dtype, 0, &count, raw);
  if (!flattened.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": 'data' ", tensor->datatype(), " ", flattened.message()));
  }
  const int64_t expected = ElementCount(shape);
  if (expected != count) {
    std::string shape_text;
    for (int64_t d : shape) absl::StrAppend(&shape_text, shape_text.empty() ? "" : ",", d);
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": shape [", shape_text, "] needs ",
        expected < 0 ? "over 2^63" : std::to_string(expected), " elements, 'data' has ", count));
  }
  return absl::OkStatus();
}

absl::Status DecodeOutputs(const json& outputs, HttpInferRequest* out) {
  if (!outputs.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'outputs' must be an array, got ", Shown(outputs)));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const json& output = outputs[i];
    if (!output.is_object() || !output.contains("name") || !output["name"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("outputs[", i, "]: expected an object with a string 'name'"));
    }
    const std::string name = output["name"].get<std::string>();
    const std::string where = absl::StrCat("output '", name, "'");
    absl::StatusOr<json> parameters = Parameters(output, where);
    if (!parameters.ok()) return parameters.status();
    auto binary = parameters->find("binary_data");
    if (binary != parameters->end() && !binary->is_boolean()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": 'binary_data' must be true or false, got ", Shown(*binary)));
    }
    out->binary_outputs[name] = binary != parameters->end() && binary->get<bool>();
    inference::ModelInferRequest::InferRequestedOutputTensor* requested =
        out->request.add_outputs();
    requested->set_name(name);
    // Checked by DecodeInferRequest (classification.h), as over gRPC.
    if (auto classes = parameters->find("classification"); classes != parameters->end()) {
      absl::Status status = SetParameter("classification", *classes,
                                         &(*requested->mutable_parameters())["classification"]);
      if (!status.ok())
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", status.message()));
    }
    absl::StatusOr<bool> in_shared_memory =
        CopySharedMemoryParameters(*parameters, requested->mutable_parameters());
    if (!in_shared_memory.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", in_shared_memory.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HttpInferRequest> DecodeHttpInferRequest(
    std::string body, std::optional<std::string_view> header_length, const std::string& model_name,
    const std::string& model_version) {
  size_t json_length = body.size();
  if (header_length.has_value()) {
    uint64_t parsed = 0;
    const std::string text(*header_length);
    if (!absl::SimpleAtoi(text, &parsed) || parsed > body.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Inference-Header-Content-Length must be an integer in 0..", body.size(),
                       " (the body's length), got '", text, "'"));
    }
    json_length = static_cast<size_t>(parsed);
  }
  absl::StatusOr<json> parsed =
      ParseJson(std::string_view(body).substr(0, json_length), "the inference request");
  if (!parsed.ok()) return parsed.status();
  const json& root = *parsed;
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the inference request must be a JSON object, got ", Shown(root)));
  }
  HttpInferRequest out;
  inference::ModelInferRequest& request = out.request;
  request.set_model_name(model_name);
  request.set_model_version(model_version);
  if (auto id = root.find("id"); id != root.end()) {
    if (!id->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("'id' must be a string, got ", Shown(*id)));
    }
    request.set_id(id->get<std::string>());
  }
  absl::StatusOr<json> parameters = Parameters(root, "the inference request");
  if (!parameters.ok()) return parameters.status();
  for (const auto& [name, value] : parameters->items()) {
    if (name == "binary_data_output") {
      if (!value.is_boolean()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "parameter 'binary_data_output': expected true or false, got ", Shown(value)));
      }
      out.binary_default = value.get<bool>();
      continue;
    }
    absl::Status status = SetParameter(name, value, &(*request.mutable_parameters())[name]);
    if (!status.ok()) return status;
  }
  auto inputs = root.find("inputs");
  if (inputs == root.end() || !inputs->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'inputs' must be an array, got ", inputs == root.end() ? "nothing" : Shown(*inputs)));
  }
  const size_t binary_size = body.size() - json_length;
  size_t offset = 0;
  std::vector<BinarySlice> slices;
  for (size_t i = 0; i < inputs->size(); ++i) {
    absl::Status status = DecodeInput((*inputs)[i], i, binary_size, &offset, &slices, &request);
    if (!status.ok()) return status;
  }
  if (offset != binary_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        binary_size - offset, " bytes of binary data follow the inputs' binary_data_size total of ",
        offset));
  }
  if (auto outputs = root.find("outputs"); outputs != root.end()) {
    absl::Status status = DecodeOutputs(*outputs, &out);
    if (!status.ok()) return status;
  }
  // The request is valid: the binary data goes in. The last slice ends the
  // body, which it takes over (its bytes moved to the front) instead of a
  // copy, so that a large tensor is held once, not twice.
  for (size_t i = 0; i < slices.size(); ++i) {
    const BinarySlice& slice = slices[i];
    std::string* raw = request.mutable_raw_input_contents(slice.raw);
    if (i + 1 < slices.size()) {
      raw->assign(body, json_length + slice.offset, slice.size);
    } else {
      body.erase(0, json_length + slice.offset);
      *raw = std::move(body);
    }
  }
  return out;
}

namespace {

template <typename T>
T Load(const char* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

// The raw little-endian bytes of one output as JSON values.
json OutputData(const std::string& raw, DType dtype) {
  json data = json::array();
  const size_t size = DTypeSize(dtype);
  for (size_t at = 0; at + size <= raw.size(); at += size) {
    const char* p = raw.data() + at;
    switch (dtype) {
      case DType::kFloat32:
        data.push_back(Load<float>(p));
        break;
      case DType::kFloat16:
        data.push_back(HalfToFloat(Load<uint16_t>(p)));
        break;
      case DType::kBFloat16:
        data.push_back(BFloat16ToFloat(Load<uint16_t>(p)));
        break;
      case DType::kInt32:
        data.push_back(Load<int32_t>(p));
        break;
      case DType::kInt64:
        data.push_back(Load<int64_t>(p));
        break;
      case DType::kUInt8:
        data.push_back(Load<uint8_t>(p));
        break;
      case DType::kBool:
        data.push_back(Load<uint8_t>(p) != 0);
        break;
    }
  }
  return data;
}

// Whether the request asked for output `name` in shared memory.
bool InSharedMemory(const inference::ModelInferRequest& request, const std::string& name) {
  return std::any_of(request.outputs().begin(), request.outputs().end(), [&](const auto& output) {
    return output.name() == name && output.parameters().contains("shared_memory_region");
  });
}

}  // namespace

HttpInferResponse EncodeHttpInferResponse(const inference::ModelInferResponse& response,
                                          const HttpInferRequest& request) {
  json root = json::object();
  if (!response.id().empty()) root["id"] = response.id();
  root["model_name"] = response.model_name();
  root["model_version"] = response.model_version();
  json outputs = json::array();
  std::string binary;
  bool any_binary = false;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& output = response.outputs(i);
    // One raw entry per output (EncodeInferResponse); a missing one is empty.
    static const std::string kNone;
    const std::string& raw =
        i < response.raw_output_contents_size() ? response.raw_output_contents(i) : kNone;
    json entry = {{"name", output.name()}, {"datatype", output.datatype()}};
    entry["shape"] = std::vector<int64_t>(output.shape().begin(), output.shape().end());
    auto chosen = request.binary_outputs.find(output.name());
    const bool as_binary =
        chosen != request.binary_outputs.end() ? chosen->second : request.binary_default;
    // Outputs are of a datatype the engine has, or BYTES for classes
    // (EncodeInferResponse).
    absl::StatusOr<DType> dtype = DTypeFromWire(output.datatype());
    if (InSharedMemory(request.request, output.name())) {
      // Written to its region: Triton's answer has neither data nor
      // parameters for it.
    } else if (!as_binary && output.datatype() == "BYTES") {
      // Classification results (classification.h) as JSON strings.
      entry["data"] = BytesElements(raw);
    } else if (as_binary || !dtype.ok()) {
      entry["parameters"] = {{"binary_data_size", raw.size()}};
      binary += raw;
      any_binary = true;
    } else {
      entry["data"] = OutputData(raw, *dtype);
    }
    outputs.push_back(std::move(entry));
  }
  root["outputs"] = std::move(outputs);
  HttpInferResponse out;
  out.body = DumpJson(root);
  if (any_binary) {
    out.json_length = out.body.size();
    out.body += binary;
  }
  return out;
}

}  // namespace fornax::serving
