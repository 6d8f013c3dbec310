#include "worker/flags.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax::worker {
namespace {

using ::testing::HasSubstr;

TEST(FlagsTest, ParsesBothFormsAndNamesBadFlags) {
  absl::StatusOr<Flags> flags =
      Flags::Parse("fornax-worker", {"--name", "w1", "--slots=2"}, {"name", "slots"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->Get("name"), "w1");
  EXPECT_EQ(*flags->GetInt("slots", 1, 1, 8), 2);
  EXPECT_EQ(*flags->GetInt("cpus", 3, 1, 8), 3);
  EXPECT_THAT(flags->GetInt("name", 1, 1, 8).status().message(),
              HasSubstr("--name: expected an integer between 1 and 8, got 'w1'"));
  EXPECT_THAT(Flags::Parse("fornax-worker", {"--nmae", "w"}, {"name"}).status().message(),
              HasSubstr("unknown flag '--nmae'"));
  EXPECT_THAT(Flags::Parse("fornax-worker", {"--name"}, {"name"}).status().message(),
              HasSubstr("--name expects a value"));
  EXPECT_THAT(Flags::Parse("fornax-worker", {"stray"}, {"name"}).status().message(),
              HasSubstr("unexpected argument 'stray'"));
}

}  // namespace
}  // namespace fornax::worker
