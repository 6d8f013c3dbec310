// Converts Open Inference Protocol tensors to engine Tensors and back.
//
// Requests: every model input must come exactly once, with the model's
// datatype, a shape [batch, dims...] matching the model (batch in
// 1..max_batch_size, the same for every input) and its data either in
// raw_input_contents (row-major little-endian, byte size checked) or in the
// typed `contents` field, never both (Triton's rules), or in a registered
// system shared memory region (Triton's parameters shared_memory_region,
// shared_memory_byte_size and optional shared_memory_offset; such inputs
// have no raw_input_contents entry). Errors are InvalidArgument and name the
// tensor, what was expected and what came (NotFound for an unknown region).
// Responses always carry raw_output_contents, one entry per output in the
// order of `outputs` (tritonclient reads nothing else for numeric tensors);
// an output requested with the shared memory parameters is written to its
// region instead and its entry is empty, as Triton does; one requested with
// the "classification" parameter is answered as its top classes
// (classification.h; not combinable with shared memory).
// Thread-safety: stateless functions.
#ifndef FORNAX_SERVER_INFERENCE_TENSOR_CODEC_H_
#define FORNAX_SERVER_INFERENCE_TENSOR_CODEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/models/model.h"
#include "engine/tensor/tensor.h"
#include "proto/inference/grpc_service.pb.h"
#include "server/inference/classification.h"
#include "server/inference/shared_memory.h"

namespace fornax::serving {

// What a request is checked against.
struct ModelSignature {
  std::string model_name;
  std::vector<TensorSpec> inputs;   // dim 0 is the batch
  std::vector<TensorSpec> outputs;  // dim 0 is the batch
  int64_t max_batch_size = 1;
  // The class labels of the outputs that have them, by name.
  std::map<std::string, ClassLabels> labels = {};
};

// The protocol's datatype name ("FP32", "INT32", "BOOL", ...).
std::string WireDatatype(DType dtype);
inference::DataType ConfigDatatype(DType dtype);
// Inverse of WireDatatype; InvalidArgument for a datatype Fornax has no
// tensors of (FP64, BYTES, ...).
absl::StatusOr<DType> DTypeFromWire(const std::string& datatype);
// The model's shape with -1 for the batch and any variable dimension.
std::vector<int64_t> WireShape(const Shape& shape);

struct RequestedOutput {
  int index = 0;  // into signature.outputs
  // Where the client asked for the output's bytes; nullopt: in the reply.
  std::optional<SharedMemorySpan> shared_memory;
  // Triton's classification extension (classification.h): the number of
  // top classes per row to answer instead of the tensor; 0: the tensor.
  int64_t classification = 0;
};

struct DecodedRequest {
  std::vector<Tensor> inputs;            // in the model's input order
  std::vector<RequestedOutput> outputs;  // in reply order
  int64_t batch = 0;
};

// Shared memory inputs are copied from (and output regions looked up in)
// `shared_memory`.
absl::StatusOr<DecodedRequest> DecodeInferRequest(const inference::ModelInferRequest& request,
                                                  const ModelSignature& signature,
                                                  const SharedMemoryRegistry& shared_memory);

// Fills `response` with the `requested` outputs (`outputs` are this
// request's rows of every model output). InvalidArgument when an output's
// shared memory is too small for it.
absl::Status EncodeInferResponse(const std::vector<Tensor>& outputs,
                                 const std::vector<RequestedOutput>& requested,
                                 const ModelSignature& signature,
                                 inference::ModelInferResponse* response);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_TENSOR_CODEC_H_
