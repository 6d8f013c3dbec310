// What `fornax serve` does with untrusted bytes, as one function for the
// libFuzzer target infer_request_fuzz (docs/fuzzing.md) and for the
// regression test that replays its findings (tests/testdata/fuzz_inference).
//
// The first byte selects the mode (its low two bits); the rest is
//   even (x0):  a ModelInferRequest (protobuf wire format), decoded against
//               a fixed model signature as ModelInfer decodes it;
//   01:         the text of a model's config.json, parsed as the repository
//               parses it (ParseModelConfigJson);
//   11:         the text of a model's config.pbtxt, parsed as the
//               repository parses it (ParseModelConfigPbtxt), for a model
//               named "fuzz".
// Unparsable protobuf is not the server's concern (gRPC refuses it) and
// gives OK.
#ifndef FORNAX_SERVER_INFERENCE_INFER_REQUEST_FUZZ_H_
#define FORNAX_SERVER_INFERENCE_INFER_REQUEST_FUZZ_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "server/inference/tensor_codec.h"

namespace fornax::serving {

// The model requests are decoded against: inputs x FP32 [-1,6], ids INT32
// [-1,3] and mask BOOL [-1,-1] (a variable length), outputs y FP32 [-1,2]
// and z INT32 [-1,1], max_batch_size 8.
const ModelSignature& FuzzSignature();

absl::Status RunUntrustedInput(const uint8_t* data, size_t size);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_INFER_REQUEST_FUZZ_H_
