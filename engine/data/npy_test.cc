#include "engine/data/npy.h"

#include "engine/data/file_util.h"
#include "engine/data/test_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using testing::Fixture;
using ::testing::HasSubstr;

TEST(NpyTest, ReadsNumpyFloat32) {
  absl::StatusOr<Tensor> t = ReadNpy(Fixture("f4_2x3.npy"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_EQ(t->shape(), (Shape{2, 3}));
  EXPECT_FLOAT_EQ(t->data<float>()[5], 1.25f);
}

TEST(NpyTest, ReadsEverySupportedDType) {
  struct Case {
    const char* file;
    DType dtype;
    Shape shape;
    int64_t last_index;
    double last_value;
  };
  const Case cases[] = {
      {"f2_4.npy", DType::kFloat16, Shape{4}, 3, 65504.0},
      {"f8_3.npy", DType::kFloat32, Shape{3}, 2, 1000.0},
      {"i4_3.npy", DType::kInt32, Shape{3}, 1, -2.0},
      {"i8_2x2.npy", DType::kInt64, Shape{2, 2}, 3, -1099511627776.0},
      {"u1_5.npy", DType::kUInt8, Shape{5}, 4, 255.0},
      {"b1_3.npy", DType::kBool, Shape{3}, 1, 0.0},
      {"scalar_f4.npy", DType::kFloat32, Shape{}, 0, 7.5},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Tensor> t = ReadNpy(Fixture(c.file));
    ASSERT_TRUE(t.ok()) << c.file << ": " << t.status();
    EXPECT_EQ(t->dtype(), c.dtype) << c.file;
    EXPECT_EQ(t->shape(), c.shape) << c.file;
    EXPECT_EQ(t->GetAsDouble(c.last_index), c.last_value) << c.file;
  }
}

TEST(NpyTest, WriteMatchesNumpyByteForByte) {
  absl::StatusOr<Tensor> t = ReadNpy(Fixture("i8_2x2.npy"));
  ASSERT_TRUE(t.ok());
  absl::StatusOr<std::string> ours = SerializeNpy(*t);
  absl::StatusOr<std::string> numpy = ReadFileToString(Fixture("i8_2x2.npy"));
  ASSERT_TRUE(ours.ok() && numpy.ok());
  EXPECT_EQ(*ours, *numpy);

  absl::StatusOr<Tensor> u = ReadNpy(Fixture("u1_5.npy"));
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*SerializeNpy(*u), *ReadFileToString(Fixture("u1_5.npy")));
}

TEST(NpyTest, RoundTripsThroughAFile) {
  testing::TempDir dir;
  Tensor t = Tensor::FromFloats(Shape{2, 2}, std::vector<float>{1, 2, 3, 4});
  ASSERT_TRUE(WriteNpy(dir.File("a.npy"), t).ok());
  absl::StatusOr<Tensor> back = ReadNpy(dir.File("a.npy"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->BitwiseEquals(t));
}

TEST(NpyTest, FortranOrderIsRefusedWithAFix) {
  absl::StatusOr<Tensor> t = ReadNpy(Fixture("fortran_2x3.npy"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("Fortran order"));
  EXPECT_THAT(t.status().message(), HasSubstr("np.ascontiguousarray"));
}

TEST(NpyTest, UnsupportedDTypeIsNamed) {
  absl::StatusOr<Tensor> t = ReadNpy(Fixture("c16_2.npy"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("unsupported .npy dtype '<c16'"));
}

TEST(NpyTest, TruncatedDataIsReported) {
  absl::StatusOr<std::string> bytes = ReadFileToString(Fixture("f4_2x3.npy"));
  ASSERT_TRUE(bytes.ok());
  absl::StatusOr<Tensor> t = ParseNpy(bytes->substr(0, bytes->size() - 5), "cut.npy");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.status().message(),
            "cut.npy: truncated: header declares shape (2, 3) of <f4 (24 bytes) but the file "
            "holds 19");
}

TEST(NpyTest, BadMagicAndMissingFile) {
  EXPECT_THAT(ParseNpy("hello world", "h.npy").status().message(),
              HasSubstr("h.npy: not a valid .npy file"));
  EXPECT_EQ(ReadNpy("/nonexistent/a.npy").status().code(), absl::StatusCode::kNotFound);
}

TEST(NpyTest, BFloat16CannotBeWritten) {
  Tensor t(DType::kBFloat16, Shape{2});
  absl::Status s = WriteNpy("/tmp/never_written.npy", t);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bfloat16"));
}

}  // namespace
}  // namespace fornax
