#include "client/cli_util.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

TEST(CliUtilTest, ExitCodes) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("x")), 2);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("x")), 2);
  EXPECT_EQ(ExitCodeFor(absl::UnimplementedError("x")), 2);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("x")), 1);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("x")), 1);
}

TEST(CliUtilTest, ParsesFlagsBothWays) {
  absl::StatusOr<ParsedArgs> a =
      ParseArgs("train", {"job.yaml", "--history", "h.json", "--quiet"}, {"history"}, {"quiet"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->positional, std::vector<std::string>{"job.yaml"});
  EXPECT_EQ(a->values["history"], "h.json");
  EXPECT_TRUE(a->switches["quiet"]);
  absl::StatusOr<ParsedArgs> b = ParseArgs("train", {"--history=x.json", "j"}, {"history"}, {});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->values["history"], "x.json");
  absl::StatusOr<ParsedArgs> c =
      ParseArgs("serve", {"--load-model", "a", "--load-model=b"}, {"load-model"}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->values["load-model"], "b") << "the last value";
  EXPECT_EQ(c->all_values["load-model"], (std::vector<std::string>{"a", "b"}));
}

TEST(CliUtilTest, RejectsUnknownFlagsAndMissingValues) {
  absl::StatusOr<ParsedArgs> a = ParseArgs("train", {"--histroy", "h"}, {"history"}, {});
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), ::testing::HasSubstr("unknown flag '--histroy'"));
  absl::StatusOr<ParsedArgs> b = ParseArgs("train", {"j", "--history"}, {"history"}, {});
  EXPECT_THAT(std::string(b.status().message()),
              ::testing::HasSubstr("flag --history expects a value"));
}

}  // namespace
}  // namespace fornax
