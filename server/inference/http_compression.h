// HTTP content coding for `fornax serve`'s HTTP endpoint, as Triton's: a
// request body sent with `Content-Encoding: gzip` (RFC 1952) or `deflate`
// (the zlib format, RFC 1950, which is what HTTP's "deflate" means and what
// tritonclient.http sends) is inflated before it is routed, and a reply is
// compressed when the request's `Accept-Encoding` accepts gzip or deflate
// (tritonclient.http's request_compression_algorithm and
// response_compression_algorithm).
//
// Inflating stops as soon as the output passes the body limit, so a small
// body that would inflate to gigabytes (a "zip bomb") costs at most the
// limit's memory before its 413. zlib counts each call's bytes in 32 bits:
// both directions hand it at most `step` bytes at a time, so any size works.
// Thread-safety: stateless functions.
#ifndef FORNAX_SERVER_INFERENCE_HTTP_COMPRESSION_H_
#define FORNAX_SERVER_INFERENCE_HTTP_COMPRESSION_H_

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace fornax::serving {

enum class ContentCoding { kGzip, kDeflate };

// The most bytes zlib reads or writes per call (its uInt). Tests pass a
// smaller `step` to Inflate and Deflate to exercise the chunking.
inline constexpr size_t kZlibStep = std::numeric_limits<unsigned int>::max();

// "gzip" or "deflate".
const char* CodingName(ContentCoding coding);

// The coding a Content-Encoding header names: nullopt for none (absent or
// "identity"); Unimplemented (501) for any other coding, naming the ones
// accepted.
absl::StatusOr<std::optional<ContentCoding>> RequestCoding(
    const std::optional<std::string>& content_encoding);

// `body` inflated. ResourceExhausted (413) once the output would pass
// `limit` bytes; InvalidArgument (400) for data that is not a valid stream
// of `coding` (zlib's reason), a stream cut short, or bytes after its end.
// The output is reserved once at the size a gzip trailer declares (at most
// `limit`) and otherwise grows geometrically up to `limit`.
absl::StatusOr<std::string> Inflate(std::string_view body, ContentCoding coding, size_t limit,
                                    size_t step = kZlibStep);

// The coding to answer with for an Accept-Encoding header: gzip or deflate,
// whichever has the higher q-value (the first listed on a tie; "*" counts
// for both), or nullopt when the header is absent or accepts neither.
std::optional<ContentCoding> ReplyCoding(const std::optional<std::string>& accept_encoding);

// `data` compressed in `coding` (zlib's default level); the same bytes
// whatever `step`. Throws std::bad_alloc without memory, std::logic_error
// should zlib stop before the stream's end (a bug, not bad data).
std::string Deflate(std::string_view data, ContentCoding coding, size_t step = kZlibStep);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_HTTP_COMPRESSION_H_
