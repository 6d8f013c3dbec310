// libFuzzer target for the inference request path (docs/fuzzing.md). Any
// status is fine; a crash, a sanitizer report, a leak, a hang or a huge
// allocation is a bug.
#include "server/inference/infer_request_fuzz.h"

#include <string_view>

#include "google/protobuf/stubs/logging.h"
#include "server/inference/model_settings.h"

namespace fornax::serving {

const ModelSignature& FuzzSignature() {
  static const ModelSignature* signature = new ModelSignature{
      "fuzz",
      {{"x", DType::kFloat32, Shape{kBatch, 6}},
       {"ids", DType::kInt32, Shape{kBatch, 3}},
       {"mask", DType::kBool, Shape{kBatch, kBatch}}},
      {{"y", DType::kFloat32, Shape{kBatch, 2}}, {"z", DType::kInt32, Shape{kBatch, 1}}},
      8};
  return *signature;
}

absl::Status RunUntrustedInput(const uint8_t* data, size_t size) {
  if (size == 0) return absl::OkStatus();
  const uint8_t mode = data[0];
  ++data;
  --size;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if ((mode & 3) == 1) return ParseModelConfigJson(text, "config.json").status();
  if ((mode & 3) == 3) return ParseModelConfigPbtxt(text, "config.pbtxt", "fuzz").status();
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return absl::OkStatus();
  // No region is registered: a request naming one is refused.
  static const SharedMemoryRegistry* no_regions = new SharedMemoryRegistry;
  return DecodeInferRequest(request, FuzzSignature(), *no_regions).status();
}

}  // namespace fornax::serving

// protobuf logs every string field that is not UTF-8; most mutated requests
// have one, and the log would only slow the run down.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fornax::serving::RunUntrustedInput(data, size).IgnoreError();
  return 0;
}
