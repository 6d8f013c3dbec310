#include "server/inference/http_compression.h"

#include <zlib.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fornax::serving {
namespace {

// zlib's windowBits: 15 (the largest window) for the zlib format, +16 for
// the gzip format.
int WindowBits(ContentCoding coding) { return coding == ContentCoding::kGzip ? 15 + 16 : 15; }

static_assert(std::is_same_v<uInt, unsigned int>, "kZlibStep is zlib's uInt");

// Bytes are produced this much at a time, so the limit is checked before
// the output grows past it by more than this.
constexpr size_t kOutChunk = 64 << 10;

// What a gzip body declares it inflates to: its trailer's ISIZE, the size
// mod 2^32 (RFC 1952); 0 for deflate, which does not say.
size_t DeclaredSize(std::string_view body, ContentCoding coding) {
  constexpr size_t kMinGzip = 18;  // header 10, empty deflate data, trailer 8
  if (coding != ContentCoding::kGzip || body.size() < kMinGzip) return 0;
  const auto* isize = reinterpret_cast<const unsigned char*>(body.data() + body.size() - 4);
  return size_t{isize[0]} | size_t{isize[1]} << 8 | size_t{isize[2]} << 16 | size_t{isize[3]} << 24;
}

// Makes room for `needed` bytes in `out`: twice its capacity, but never
// more than `limit` (std::string's reserve would double past it).
void Grow(size_t needed, size_t limit, std::string* out) {
  std::string grown;
  grown.reserve(std::min(limit, std::max(needed, 2 * out->capacity())));
  grown.append(*out);
  out->swap(grown);
}

// Points zlib at the next at most `step` bytes of `data` once it has used
// up the last ones; `fed` counts the bytes handed over.
void Feed(std::string_view data, size_t step, z_stream* stream, size_t* fed) {
  if (stream->avail_in != 0 || *fed == data.size()) return;
  const size_t feed = std::min(step, data.size() - *fed);
  // zlib does not write through next_in.
  stream->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + *fed));
  stream->avail_in = static_cast<uInt>(feed);
  *fed += feed;
}

}  // namespace

const char* CodingName(ContentCoding coding) {
  return coding == ContentCoding::kGzip ? "gzip" : "deflate";
}

absl::StatusOr<std::optional<ContentCoding>> RequestCoding(
    const std::optional<std::string>& content_encoding) {
  if (!content_encoding.has_value()) return std::nullopt;
  const std::string coding = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*content_encoding));
  if (coding == "identity") return std::nullopt;
  if (coding == "gzip") return ContentCoding::kGzip;
  if (coding == "deflate") return ContentCoding::kDeflate;
  return absl::UnimplementedError(absl::StrCat("Content-Encoding '", *content_encoding,
                                               "' is not supported (gzip, deflate or identity)"));
}

absl::StatusOr<std::string> Inflate(std::string_view body, ContentCoding coding, size_t limit,
                                    size_t step) {
  const char* name = CodingName(coding);
  z_stream stream{};
  if (inflateInit2(&stream, WindowBits(coding)) != Z_OK) {
    return absl::InternalError(absl::StrCat("cannot start inflating ", name, " data"));
  }
  struct End {
    z_stream* stream;
    ~End() { inflateEnd(stream); }
  } end{&stream};
  // Growing a string copies it, holding the old and the new buffer at
  // once: a gzip body's declared size, trusted only up to the limit,
  // spares that.
  std::string out;
  out.reserve(std::min(DeclaredSize(body, coding), limit));
  std::vector<unsigned char> chunk(std::min(kOutChunk, step));
  size_t fed = 0;
  while (true) {
    Feed(body, step, &stream, &fed);
    stream.next_out = chunk.data();
    stream.avail_out = static_cast<uInt>(chunk.size());
    const int rc = inflate(&stream, Z_NO_FLUSH);
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
      return absl::InvalidArgumentError(
          absl::StrCat("the request body is not valid ", name, " data (Content-Encoding: ", name,
                       "): ", stream.msg != nullptr ? stream.msg : "needs a preset dictionary"));
    }
    if (rc == Z_MEM_ERROR) {
      return absl::ResourceExhaustedError(
          absl::StrCat("out of memory inflating the ", name, " request body"));
    }
    const size_t produced = chunk.size() - stream.avail_out;
    if (out.size() + produced > limit) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the request body inflates (", "Content-Encoding: ", name, ") to more than ",
                       limit, " bytes; at most ", limit, " are accepted"));
    }
    if (out.size() + produced > out.capacity()) Grow(out.size() + produced, limit, &out);
    out.append(reinterpret_cast<const char*>(chunk.data()), produced);
    if (rc == Z_STREAM_END) break;
    // Z_BUF_ERROR: no progress was possible with room for output, so all
    // input is used up before the stream's end.
    if (rc == Z_BUF_ERROR) {
      return absl::InvalidArgumentError(absl::StrCat("the request body (Content-Encoding: ", name,
                                                     ") ends inside its ", name, " stream, after ",
                                                     body.size(), " bytes"));
    }
  }
  const size_t left = stream.avail_in + (body.size() - fed);
  if (left != 0) {
    return absl::InvalidArgumentError(absl::StrCat("the request body (Content-Encoding: ", name,
                                                   ") has ", left, " bytes after the end of its ",
                                                   name, " stream"));
  }
  return out;
}

std::optional<ContentCoding> ReplyCoding(const std::optional<std::string>& accept_encoding) {
  if (!accept_encoding.has_value()) return std::nullopt;
  // Per coding its q-value (default 1) and position; q -1: not listed.
  struct Accepted {
    double q = -1;
    size_t position = 0;
  } gzip, deflate, any;
  size_t position = 0;
  for (absl::string_view entry : absl::StrSplit(*accept_encoding, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(entry, ';');
    const std::string coding = absl::AsciiStrToLower(absl::StripAsciiWhitespace(parts[0]));
    Accepted accepted{1, position++};
    for (size_t i = 1; i < parts.size(); ++i) {
      absl::string_view parameter = absl::StripAsciiWhitespace(parts[i]);
      if (absl::ConsumePrefix(&parameter, "q=") && !absl::SimpleAtod(parameter, &accepted.q)) {
        accepted.q = 0;  // unreadable: not acceptable
      }
    }
    if (coding == "gzip" || coding == "x-gzip") gzip = accepted;
    if (coding == "deflate") deflate = accepted;
    if (coding == "*") any = accepted;
  }
  if (gzip.q < 0) gzip = any;
  if (deflate.q < 0) deflate = any;
  if (gzip.q <= 0 && deflate.q <= 0) return std::nullopt;
  if (gzip.q > deflate.q || (gzip.q == deflate.q && gzip.position <= deflate.position)) {
    return ContentCoding::kGzip;
  }
  return ContentCoding::kDeflate;
}

std::string Deflate(std::string_view data, ContentCoding coding, size_t step) {
  z_stream stream{};
  // It fails only without memory: thrown as any allocation would be.
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, WindowBits(coding), 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::bad_alloc();
  }
  struct End {
    z_stream* stream;
    ~End() { deflateEnd(stream); }
  } end{&stream};
  // Reserved at zlib's bound, so it never grows by copying; collected a
  // chunk at a time, so only the pages written are touched (compressible
  // data takes far less than `data` again).
  std::string out;
  out.reserve(deflateBound(&stream, data.size()));
  std::vector<unsigned char> chunk(std::min(kOutChunk, step));
  size_t fed = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    Feed(data, step, &stream, &fed);
    stream.next_out = chunk.data();
    stream.avail_out = static_cast<uInt>(chunk.size());
    rc = deflate(&stream, fed == data.size() ? Z_FINISH : Z_NO_FLUSH);
    out.append(reinterpret_cast<const char*>(chunk.data()), chunk.size() - stream.avail_out);
  }
  // With room for output and input handed over this way, zlib makes
  // progress on every call: anything else is a bug, not bad data.
  if (rc != Z_STREAM_END) {
    throw std::logic_error(absl::StrCat("deflate returned ", rc, " before the end of the ",
                                        CodingName(coding), " stream"));
  }
  return out;
}

}  // namespace fornax::serving
