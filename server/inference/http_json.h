// JSON for the HTTP/REST side of the Open Inference Protocol: protocol
// messages as Triton's HTTP endpoints write them, and request bodies parsed
// without exceptions.
//
// ProtoToJson follows Triton's JSON form of its protobuf messages (what
// tritonclient.http and perf_analyzer read): proto field names, every
// primitive field present (zero values too), 64-bit integers as JSON
// numbers (protobuf's own JSON writes them as strings, which perf_analyzer's
// parser refuses), enums by name, maps as objects, unset message fields and
// unset oneof members left out.
// Thread-safety: stateless functions.
#ifndef FORNAX_SERVER_INFERENCE_HTTP_JSON_H_
#define FORNAX_SERVER_INFERENCE_HTTP_JSON_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace fornax::serving {

nlohmann::json ProtoToJson(const google::protobuf::Message& message);

// The most JSON one request may carry (an infer request's JSON part, before
// its binary data; any other body): 64 MiB, Triton's default
// --http-max-input-size. Parsed JSON takes up to 9 times its text (measured:
// 16 MiB of one-digit numbers became 144 MiB), so a body of the whole HTTP
// limit (256 MiB) would need over 2 GiB; large tensors go as binary data.
inline constexpr size_t kMaxJsonBytes = 64 << 20;

// `text` parsed as JSON; InvalidArgument naming `what` (e.g. "the request
// body") and where the syntax broke; ResourceExhausted (HTTP 413) naming
// the limit when it is longer than kMaxJsonBytes.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view what);

// `json` as text; strings that are not UTF-8 (a model name from a URL) get
// U+FFFD in place of their bad bytes instead of failing.
std::string DumpJson(const nlohmann::json& json);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_HTTP_JSON_H_
