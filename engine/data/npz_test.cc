#include "engine/data/npz.h"

#include "engine/data/file_util.h"
#include "engine/data/test_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using ::testing::ElementsAre;
using testing::Fixture;
using ::testing::HasSubstr;

void ExpectXY(const std::string& file) {
  absl::StatusOr<NamedTensors> all = ReadNpz(Fixture(file));
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].first, "x");
  EXPECT_EQ((*all)[0].second.shape(), (Shape{4, 3}));
  EXPECT_EQ((*all)[0].second.GetAsDouble(11), 11.0);
  EXPECT_EQ((*all)[1].first, "y");
  EXPECT_EQ((*all)[1].second.dtype(), DType::kInt64);
}

TEST(NpzTest, ReadsSavez) { ExpectXY("xy.npz"); }
TEST(NpzTest, ReadsSavezCompressed) { ExpectXY("xy_compressed.npz"); }

TEST(NpzTest, ListsAndReadsOneMember) {
  absl::StatusOr<std::vector<std::string>> keys = ListNpz(Fixture("xy.npz"));
  ASSERT_TRUE(keys.ok());
  EXPECT_THAT(*keys, ElementsAre("x", "y"));
  absl::StatusOr<Tensor> y = ReadNpzMember(Fixture("xy.npz"), "y");
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->GetAsDouble(1), 1.0);
}

TEST(NpzTest, MissingKeyListsTheArchive) {
  absl::StatusOr<Tensor> t = ReadNpzMember(Fixture("xy.npz"), "labels");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(), HasSubstr("no array named 'labels'; the archive holds: x, y"));
}

TEST(NpzTest, RoundTrips) {
  testing::TempDir dir;
  NamedTensors arrays = {{"a", Tensor::FromFloats(Shape{3}, std::vector<float>{1, 2, 3})},
                         {"b", Tensor::FromInts(Shape{1, 2}, std::vector<int32_t>{7, 8})}};
  ASSERT_TRUE(WriteNpz(dir.File("ab.npz"), arrays).ok());
  absl::StatusOr<NamedTensors> back = ReadNpz(dir.File("ab.npz"));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_TRUE((*back)[0].second.BitwiseEquals(arrays[0].second));
  EXPECT_TRUE((*back)[1].second.BitwiseEquals(arrays[1].second));
}

TEST(NpzTest, NotAZipAndMissingFile) {
  absl::StatusOr<NamedTensors> t = ReadNpz(Fixture("f4_2x3.npy"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("not a valid .npz (zip) archive"));
  EXPECT_EQ(ReadNpz("/nonexistent/d.npz").status().code(), absl::StatusCode::kNotFound);
}

TEST(NpzTest, TruncatedArchiveIsRefused) {
  testing::TempDir dir;
  absl::StatusOr<std::string> bytes = ReadFileToString(Fixture("xy.npz"));
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(WriteStringToFile(dir.File("cut.npz"), bytes->substr(0, 300)).ok());
  absl::StatusOr<NamedTensors> t = ReadNpz(dir.File("cut.npz"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("cut.npz"));
}

}  // namespace
}  // namespace fornax
