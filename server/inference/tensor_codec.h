// Converts Open Inference Protocol tensors to engine Tensors and back.
//
// Requests: every model input must come exactly once, with the model's
// datatype, a shape [batch, dims...] matching the model (batch in
// 1..max_batch_size, the same for every input) and its data either in
// raw_input_contents (row-major little-endian, byte size checked) or in the
// typed `contents` field, never both (Triton's rules). Errors are
// InvalidArgument and name the tensor, what was expected and what came.
// Responses always carry raw_output_contents, one entry per output in the
// order of `outputs` (tritonclient reads nothing else for numeric tensors).
// Thread-safety: stateless functions.
#ifndef FORNAX_SERVER_INFERENCE_TENSOR_CODEC_H_
#define FORNAX_SERVER_INFERENCE_TENSOR_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/models/model.h"
#include "engine/tensor/tensor.h"
#include "proto/inference/grpc_service.pb.h"

namespace fornax::serving {

// What a request is checked against.
struct ModelSignature {
  std::string model_name;
  std::vector<TensorSpec> inputs;   // dim 0 is the batch
  std::vector<TensorSpec> outputs;  // dim 0 is the batch
  int64_t max_batch_size = 1;
};

// The protocol's datatype name ("FP32", "INT32", "BOOL", ...).
std::string WireDatatype(DType dtype);
inference::DataType ConfigDatatype(DType dtype);
// Inverse of WireDatatype; InvalidArgument for a datatype Fornax has no
// tensors of (FP64, BYTES, ...).
absl::StatusOr<DType> DTypeFromWire(const std::string& datatype);
// The model's shape with -1 for the batch and any variable dimension.
std::vector<int64_t> WireShape(const Shape& shape);

struct DecodedRequest {
  std::vector<Tensor> inputs;  // in the model's input order
  std::vector<int> outputs;    // indexes into signature.outputs, in reply order
  int64_t batch = 0;
};

absl::StatusOr<DecodedRequest> DecodeInferRequest(const inference::ModelInferRequest& request,
                                                  const ModelSignature& signature);

// Fills `response` with the outputs `selected` (indexes into the model's
// outputs; `outputs` are this request's rows of every output).
void EncodeInferResponse(const std::vector<Tensor>& outputs, const std::vector<int>& selected,
                         const ModelSignature& signature, inference::ModelInferResponse* response);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_TENSOR_CODEC_H_
