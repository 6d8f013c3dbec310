// The HTTP/REST inference body (KServe v2 REST with Triton's binary tensor
// data extension, what tritonclient.http sends) to and from the protocol's
// ModelInferRequest/Response, so HTTP requests run the gRPC serving path.
//
// Request body: a JSON object, optionally followed by binary tensor data;
// the header `Inference-Header-Content-Length` gives the JSON's length (the
// whole body when absent). An input carries its data either in "data" (JSON
// values, row-major, flat or nested) or, with the parameter
// "binary_data_size": N, as the next N bytes after the JSON, in input order.
// Every input becomes a raw_input_contents entry (so JSON and binary inputs
// mix), except one in system shared memory: Triton's parameters
// shared_memory_region, shared_memory_byte_size and shared_memory_offset
// (and no data) pass to its InferInputTensor, as on an output requested in
// shared memory, which then comes back with neither data nor binary data,
// as Triton answers. Outputs go back as JSON "data" unless binary data is asked for: per
// output ("outputs": [{"name", "parameters": {"binary_data": true}}]) or,
// when no outputs are listed, for all ("parameters":
// {"binary_data_output": true}); binary outputs get "binary_data_size" and
// their bytes follow the response JSON in output order.
//
// An output's "classification" parameter passes to its
// InferRequestedOutputTensor (classification.h); the BYTES tensor of
// classes comes back as JSON strings or, as binary data, in the protocol's
// raw form (4-byte length, bytes).
//
// Every malformed body is an InvalidArgument naming the field or tensor and
// what was expected.
// Thread-safety: stateless functions.
#ifndef FORNAX_SERVER_INFERENCE_HTTP_INFER_H_
#define FORNAX_SERVER_INFERENCE_HTTP_INFER_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/inference/grpc_service.pb.h"

namespace fornax::serving {

struct HttpInferRequest {
  inference::ModelInferRequest request;
  // Which outputs are answered as binary data: by name, else the default.
  std::map<std::string, bool> binary_outputs;
  bool binary_default = false;
};

// `header_length`: the Inference-Header-Content-Length header's text, if
// the request has one. The body is taken by value: the last binary input
// takes its bytes over (pass it with std::move to spare a copy).
absl::StatusOr<HttpInferRequest> DecodeHttpInferRequest(
    std::string body, std::optional<std::string_view> header_length, const std::string& model_name,
    const std::string& model_version);

struct HttpInferResponse {
  std::string body;
  // The JSON's length when binary data follows it (the response's
  // Inference-Header-Content-Length), else nullopt.
  std::optional<size_t> json_length;
};

HttpInferResponse EncodeHttpInferResponse(const inference::ModelInferResponse& response,
                                          const HttpInferRequest& request);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_HTTP_INFER_H_
