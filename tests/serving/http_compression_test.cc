// HTTP content coding (server/inference/http_compression.h): round trips
// through gzip and deflate as Python's gzip/zlib modules write them, the
// limit on what a body inflates to (a bomb is stopped at the limit, not
// inflated whole), corrupt, cut and padded streams refused naming the
// problem, the choice of a reply's coding from Accept-Encoding, and zlib
// fed in steps (its counts are 32-bit; small steps here stand for 4 GiB)
// giving the same bytes as one call.
#include "server/inference/http_compression.h"

#include <sys/resource.h>
#include <zlib.h>

#include <random>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax::serving {
namespace {

using ::testing::HasSubstr;

// `n` zero bytes compressed in `coding`, without holding them in memory.
std::string CompressedZeros(size_t n, ContentCoding coding) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED,
                         coding == ContentCoding::kGzip ? 31 : 15, 9, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string zeros(1 << 20, '\0');
  std::string out;
  std::string chunk(1 << 16, '\0');
  for (size_t left = n;;) {
    const size_t feed = std::min(left, zeros.size());
    left -= feed;
    stream.next_in = reinterpret_cast<Bytef*>(zeros.data());
    stream.avail_in = static_cast<uInt>(feed);
    do {
      stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
      stream.avail_out = static_cast<uInt>(chunk.size());
      deflate(&stream, left == 0 ? Z_FINISH : Z_NO_FLUSH);
      out.append(chunk.data(), chunk.size() - stream.avail_out);
    } while (stream.avail_out == 0);
    if (left == 0) break;
  }
  deflateEnd(&stream);
  return out;
}

// `data` compressed in one zlib call, as Deflate did before it took steps.
std::string OneCall(const std::string& data, ContentCoding coding) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                         coding == ContentCoding::kGzip ? 31 : 15, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

long MaxRssKib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST(HttpCompressionTest, RoundTripsBothCodings) {
  const std::string json = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,2]}]})";
  for (ContentCoding coding : {ContentCoding::kGzip, ContentCoding::kDeflate}) {
    const std::string packed = Deflate(json, coding);
    absl::StatusOr<std::string> unpacked = Inflate(packed, coding, 1 << 20);
    ASSERT_TRUE(unpacked.ok()) << unpacked.status();
    EXPECT_EQ(*unpacked, json);
  }
  // The formats: gzip's magic bytes; zlib's header (deflate, 32K window).
  EXPECT_EQ(Deflate(json, ContentCoding::kGzip).substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(Deflate(json, ContentCoding::kDeflate)[0], '\x78');
  // What Python's gzip.compress(mtime=0) / zlib.compress wrote for b"fornax".
  const std::string python_gzip(
      "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03K\xcb/\xcaK\xac\x00\x00\xad\x80J\xd5\x06\x00"
      "\x00\x00",
      26);
  EXPECT_EQ(*Inflate(python_gzip, ContentCoding::kGzip, 100), "fornax");
  EXPECT_EQ(*Inflate(std::string("x\x9cK\xcb/\xcaK\xac\x00\x00\x08\xe1\x02\x8f", 14),
                     ContentCoding::kDeflate, 100),
            "fornax");
}

TEST(HttpCompressionTest, ABombIsStoppedAtTheLimitNotInflatedWhole) {
  constexpr size_t kLimit = 32 << 20;
  const std::string bomb = CompressedZeros(size_t{1} << 30, ContentCoding::kGzip);  // 1 GiB
  EXPECT_LT(bomb.size(), 8u << 20);
  const long before = MaxRssKib();
  absl::StatusOr<std::string> inflated = Inflate(bomb, ContentCoding::kGzip, kLimit);
  const long grown_mib = (MaxRssKib() - before) / 1024;
  ASSERT_FALSE(inflated.ok());
  EXPECT_EQ(inflated.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(inflated.status().message(),
            "the request body inflates (Content-Encoding: gzip) to more than 33554432 bytes; at "
            "most 33554432 are accepted");
  // Inflating it all would have taken 1 GiB.
  EXPECT_LT(grown_mib, 256);
  // At the limit exactly it inflates.
  absl::StatusOr<std::string> at_limit =
      Inflate(CompressedZeros(kLimit, ContentCoding::kDeflate), ContentCoding::kDeflate, kLimit);
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_EQ(at_limit->size(), kLimit);
}

TEST(HttpCompressionTest, SmallStepsGiveTheBytesOfOneCall) {
  // Text-like runs, then noise: both of deflate's kinds of blocks.
  std::string data;
  while (data.size() < 60'000) data += "fornax serve " + std::to_string(data.size() % 977) + " ";
  std::mt19937 noise(7);
  while (data.size() < 100'000) data += static_cast<char>(noise());
  for (ContentCoding coding : {ContentCoding::kGzip, ContentCoding::kDeflate}) {
    const std::string expected = OneCall(data, coding);
    EXPECT_EQ(Deflate(data, coding), expected);
    for (size_t step : {1, 7, 4096}) {
      EXPECT_EQ(Deflate(data, coding, step), expected) << "step " << step;
      absl::StatusOr<std::string> inflated = Inflate(expected, coding, data.size(), step);
      ASSERT_TRUE(inflated.ok()) << "step " << step << ": " << inflated.status();
      EXPECT_EQ(*inflated, data) << "step " << step;
    }
    EXPECT_EQ(Deflate("", coding, 1), OneCall("", coding));
  }
  // The limit holds whatever the step: exactly at it inflates, one byte
  // less is refused.
  const std::string zeros = CompressedZeros(10'000, ContentCoding::kDeflate);
  EXPECT_TRUE(Inflate(zeros, ContentCoding::kDeflate, 10'000, 3).ok());
  EXPECT_EQ(Inflate(zeros, ContentCoding::kDeflate, 9'999, 3).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(HttpCompressionTest, TheOutputIsReservedOnceAndNeverPastTheLimit) {
  const std::string data(3 << 20, 'z');
  // gzip's trailer declares the size: one buffer of it, never regrown.
  absl::StatusOr<std::string> gzip =
      Inflate(Deflate(data, ContentCoding::kGzip), ContentCoding::kGzip, 4 << 20);
  ASSERT_TRUE(gzip.ok()) << gzip.status();
  EXPECT_EQ(*gzip, data);
  EXPECT_EQ(gzip->capacity(), data.size());
  // deflate does not: grown by doubling, but to the limit at most.
  absl::StatusOr<std::string> deflate =
      Inflate(Deflate(data, ContentCoding::kDeflate), ContentCoding::kDeflate, (3 << 20) + 5);
  ASSERT_TRUE(deflate.ok()) << deflate.status();
  EXPECT_EQ(*deflate, data);
  EXPECT_EQ(deflate->capacity(), (3u << 20) + 5);
  // A trailer that declares more than the limit reserves the limit, and
  // one that lies is refused by zlib's length check.
  std::string lying = Deflate(data, ContentCoding::kGzip);
  lying[lying.size() - 1] = '\x7f';
  absl::StatusOr<std::string> refused = Inflate(lying, ContentCoding::kGzip, 4 << 20);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "the request body is not valid gzip data (Content-Encoding: gzip): incorrect length "
            "check");
}

TEST(HttpCompressionTest, BrokenStreamsAreRefusedNamingTheProblem) {
  const std::string gzip = Deflate(std::string(1000, 'a'), ContentCoding::kGzip);
  const std::string deflate = Deflate(std::string(1000, 'a'), ContentCoding::kDeflate);
  std::string flipped = gzip;
  flipped[gzip.size() - 5] ^= 0x55;  // the CRC-32 of the data
  const struct {
    std::string body;
    ContentCoding coding;
    std::string error;
  } cases[] = {
      {"not compressed at all", ContentCoding::kGzip,
       "the request body is not valid gzip data (Content-Encoding: gzip): incorrect header check"},
      {"not compressed at all", ContentCoding::kDeflate,
       "the request body is not valid deflate data (Content-Encoding: deflate): incorrect header "
       "check"},
      // gzip sent as deflate: zlib's header is not there.
      {gzip, ContentCoding::kDeflate, "not valid deflate data (Content-Encoding: deflate)"},
      {flipped, ContentCoding::kGzip,
       "the request body is not valid gzip data (Content-Encoding: gzip): incorrect data check"},
      {gzip.substr(0, gzip.size() - 4), ContentCoding::kGzip,
       "the request body (Content-Encoding: gzip) ends inside its gzip stream, after"},
      {deflate.substr(0, 5), ContentCoding::kDeflate,
       "the request body (Content-Encoding: deflate) ends inside its deflate stream, after 5 "
       "bytes"},
      {gzip + "xyz", ContentCoding::kGzip,
       "the request body (Content-Encoding: gzip) has 3 bytes after the end of its gzip stream"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<std::string> inflated = Inflate(c.body, c.coding, 1 << 20);
    ASSERT_FALSE(inflated.ok()) << c.error;
    EXPECT_EQ(inflated.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(inflated.status().message()), HasSubstr(c.error));
  }
}

TEST(HttpCompressionTest, RequestCodingIsGzipDeflateOrNone) {
  EXPECT_EQ(*RequestCoding(std::nullopt), std::nullopt);
  EXPECT_EQ(*RequestCoding("identity"), std::nullopt);
  EXPECT_EQ(*RequestCoding("gzip"), ContentCoding::kGzip);
  EXPECT_EQ(*RequestCoding(" Deflate "), ContentCoding::kDeflate);
  absl::StatusOr<std::optional<ContentCoding>> br = RequestCoding("br");
  ASSERT_FALSE(br.ok());
  EXPECT_EQ(br.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(br.status().message(),
            "Content-Encoding 'br' is not supported (gzip, deflate or identity)");
}

TEST(HttpCompressionTest, ReplyCodingFollowsAcceptEncoding) {
  EXPECT_EQ(ReplyCoding(std::nullopt), std::nullopt);
  EXPECT_EQ(ReplyCoding("gzip"), ContentCoding::kGzip);
  EXPECT_EQ(ReplyCoding("deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(ReplyCoding("deflate, gzip"), ContentCoding::kDeflate);  // a tie: the first
  EXPECT_EQ(ReplyCoding("gzip;q=0.5, deflate;q=0.8"), ContentCoding::kDeflate);
  EXPECT_EQ(ReplyCoding("br, *;q=0.1"), ContentCoding::kGzip);
  EXPECT_EQ(ReplyCoding("gzip;q=0, *"), ContentCoding::kDeflate);
  EXPECT_EQ(ReplyCoding("identity"), std::nullopt);
  EXPECT_EQ(ReplyCoding("gzip;q=0, deflate;q=0"), std::nullopt);
  EXPECT_EQ(ReplyCoding(""), std::nullopt);
}

}  // namespace
}  // namespace fornax::serving
