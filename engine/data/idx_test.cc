#include "engine/data/idx.h"

#include <zlib.h>

#include <string>
#include <vector>

#include "engine/data/file_util.h"
#include "engine/data/test_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::HasSubstr;

std::string IdxHeader(uint8_t type, const std::vector<uint32_t>& dims) {
  std::string h = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) h.push_back(static_cast<char>((d >> shift) & 0xff));
  }
  return h;
}

void WriteGz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

TEST(IdxTest, ReadsGzippedImages) {
  testing::TempDir dir;
  std::string body;
  for (int i = 0; i < 2 * 3 * 4; ++i) body.push_back(static_cast<char>(i * 10));
  WriteGz(dir.File("imgs.gz"), IdxHeader(0x08, {2, 3, 4}) + body);
  absl::StatusOr<Tensor> t = ReadIdx(dir.File("imgs.gz"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kUInt8);
  EXPECT_EQ(t->shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(t->data<uint8_t>()[0], 0);
  EXPECT_EQ(t->data<uint8_t>()[23], 230);
}

TEST(IdxTest, ReadsPlainLabels) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteStringToFile(dir.File("labels"),
                                IdxHeader(0x08, {5}) + std::string("\x01\x02\x03\x04\x09", 5))
                  .ok());
  absl::StatusOr<Tensor> t = ReadIdx(dir.File("labels"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape(), (Shape{5}));
  EXPECT_EQ(t->data<uint8_t>()[4], 9);
}

TEST(IdxTest, MissingFileIsNotFound) {
  absl::StatusOr<Tensor> t = ReadIdx("/nonexistent/train-images-idx3-ubyte.gz");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(),
              HasSubstr("/nonexistent/train-images-idx3-ubyte.gz: no such file"));
}

TEST(IdxTest, TruncatedBodyNamesDeclaredAndActualSizes) {
  testing::TempDir dir;
  const std::string path = dir.File("train-images-idx3-ubyte.gz");
  WriteGz(path, IdxHeader(0x08, {60000, 28, 28}) + std::string(1000, '\x07'));
  absl::StatusOr<Tensor> t = ReadIdx(path);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(),
            path +
                ": truncated: header declares 60000 images of 28x28 (47040000 bytes) but the "
                "file holds 1000 bytes");
}

TEST(IdxTest, HugeDeclaredSizeIsNotAllocated) {
  testing::TempDir dir;
  const std::string path = dir.File("huge.gz");
  WriteGz(path, IdxHeader(0x08, {100000000, 28, 28}) + std::string(10, '\x07'));
  absl::StatusOr<Tensor> t = ReadIdx(path);  // 78 GB declared: must fail fast
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("header declares 100000000 images of 28x28 (78400000000 bytes) but the "
                        "file holds 10 bytes"));
}

TEST(IdxTest, CutGzipStreamIsReportedAsTruncated) {
  testing::TempDir dir;
  const std::string whole = dir.File("whole.gz");
  WriteGz(whole, IdxHeader(0x08, {100}) + std::string(100, '\x01'));
  absl::StatusOr<std::string> bytes = ReadFileToString(whole);
  ASSERT_TRUE(bytes.ok());
  const std::string cut = dir.File("cut.gz");
  ASSERT_TRUE(WriteStringToFile(cut, bytes->substr(0, bytes->size() - 12)).ok());
  absl::StatusOr<Tensor> t = ReadIdx(cut);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("truncated: header declares 100 labels"));
}

TEST(IdxTest, BadMagicIsRefused) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteStringToFile(dir.File("x.idx"), "PK\x03\x04 not idx at all").ok());
  absl::StatusOr<Tensor> t = ReadIdx(dir.File("x.idx"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("not an IDX file: expected the magic 00 00"));
  EXPECT_THAT(t.status().message(), HasSubstr("got 50 4b 03 04"));
}

TEST(IdxTest, NonUInt8ElementTypeIsRefused) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteStringToFile(dir.File("f.idx"), IdxHeader(0x0D, {1}) + "abcd").ok());
  absl::StatusOr<Tensor> t = ReadIdx(dir.File("f.idx"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("unsupported IDX element type 0x0d"));
}

TEST(IdxTest, TrailingBytesAreRefused) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteStringToFile(dir.File("l.idx"), IdxHeader(0x08, {2}) + "abc").ok());
  absl::StatusOr<Tensor> t = ReadIdx(dir.File("l.idx"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("2 bytes of data expected"));
}

TEST(IdxTest, DirectoryIsRefused) {
  testing::TempDir dir;
  absl::StatusOr<Tensor> t = ReadIdx(dir.File(""));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("is a directory"));
}

}  // namespace
}  // namespace fornax
