#include "engine/data/file_util.h"

#include <string>

#include "gtest/gtest.h"

namespace fornax {
namespace {

// The message of CheckRelativePathInside(path), "" when it is OK.
std::string Why(const std::string& path) {
  absl::Status status = CheckRelativePathInside(path);
  if (!status.ok()) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << path;
  }
  return std::string(status.message());
}

TEST(CheckRelativePathInsideTest, AcceptsRelativePathsThatStayInside) {
  EXPECT_EQ(Why("log.csv"), "");
  EXPECT_EQ(Why("out/epoch-{epoch}.keras"), "");
  EXPECT_EQ(Why("a..b/c.."), "");  // '..' inside a name is not a part
  EXPECT_EQ(Why(".hidden/x"), "");
}

TEST(CheckRelativePathInsideTest, NamesEachRuleBroken) {
  EXPECT_EQ(Why(""), "is empty");
  EXPECT_EQ(Why("/etc/passwd"), "is absolute");
  EXPECT_EQ(Why("../x"), "has a '..' part");
  EXPECT_EQ(Why("a/../../x"), "has a '..' part");
  EXPECT_EQ(Why("a/.."), "has a '..' part");
  EXPECT_EQ(Why("./x"), "has a '.' part");
  EXPECT_EQ(Why("a/./x"), "has a '.' part");
  EXPECT_EQ(Why("a//x"), "has an empty part ('//' or a final '/')");
  EXPECT_EQ(Why("dir/"), "has an empty part ('//' or a final '/')");
  EXPECT_EQ(Why("..\\x"), "has a backslash at byte 2");
  EXPECT_EQ(Why(std::string("a\0b", 3)), "has a control character (0x00) at byte 1");
  EXPECT_EQ(Why("a\nb"), "has a control character (0x0a) at byte 1");
  EXPECT_EQ(Why("a\x1b[2Jb"), "has a control character (0x1b) at byte 1");
  EXPECT_EQ(Why("a\x7f"), "has a control character (0x7f) at byte 1");
}

}  // namespace
}  // namespace fornax
