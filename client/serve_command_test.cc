// ParseServeFlags: `fornax serve`'s flags, their defaults and the errors
// that name the flag and what it accepts. Serving itself is tested with
// real processes in tests/serving.
#include "client/serve_command.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fornax {
namespace {

using serving::ModelControlMode;
using ::testing::HasSubstr;

absl::StatusOr<ServeFlags> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), {"--model-repository", "models"});
  return ParseServeFlags(args);
}

// The error message of Parse(args), which must fail with InvalidArgument.
std::string Error(std::vector<std::string> args) {
  absl::StatusOr<ServeFlags> flags = Parse(std::move(args));
  EXPECT_EQ(flags.status().code(), absl::StatusCode::kInvalidArgument) << flags.status();
  return std::string(flags.status().message());
}

TEST(ServeFlagsTest, DefaultsKeepLoopbackAndPolling) {
  absl::StatusOr<ServeFlags> flags = Parse({});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_FALSE(flags->help);
  EXPECT_EQ(flags->options.model_repository, "models");
  EXPECT_EQ(flags->options.host, "127.0.0.1");
  EXPECT_EQ(flags->options.model_control_mode, ModelControlMode::kPoll);
  EXPECT_EQ(flags->options.poll_interval_ms, 1000);
  EXPECT_TRUE(flags->options.startup_models.empty());
}

TEST(ServeFlagsTest, AddressTakesAnIpv4Address) {
  for (const std::string address : {"0.0.0.0", "192.0.2.7", "127.0.0.1"}) {
    absl::StatusOr<ServeFlags> flags = Parse({"--address", address});
    ASSERT_TRUE(flags.ok()) << address << ": " << flags.status();
    EXPECT_EQ(flags->options.host, address);
  }
}

TEST(ServeFlagsTest, BadAddressNamesTheFlagAndTheAcceptedForm) {
  for (const auto& [bad, ipv6] : std::vector<std::pair<std::string, bool>>{{"localhost", false},
                                                                           {"", false},
                                                                           {"1.2.3", false},
                                                                           {"256.0.0.1", false},
                                                                           {"0.0.0.0:8001", false},
                                                                           {" 0.0.0.0", false},
                                                                           {"::", true},
                                                                           {"[::1]", true}}) {
    const std::string message = Error({"--address", bad});
    EXPECT_THAT(message, HasSubstr("serve: --address: expected an IPv4 address (127.0.0.1: this "
                                   "machine only; 0.0.0.0: every interface), got '" +
                                   bad + "'"));
    EXPECT_EQ(message.find("IPv6 is not supported") != std::string::npos, ipv6) << bad;
  }
}

TEST(ServeFlagsTest, ModelControlModeAsTritonSpellsIt) {
  for (const auto& [given, mode] : std::vector<std::pair<std::string, ModelControlMode>>{
           {"none", ModelControlMode::kNone},
           {"poll", ModelControlMode::kPoll},
           {"explicit", ModelControlMode::kExplicit},
           {"EXPLICIT", ModelControlMode::kExplicit}}) {
    absl::StatusOr<ServeFlags> flags = Parse({"--model-control-mode=" + given});
    ASSERT_TRUE(flags.ok()) << given << ": " << flags.status();
    EXPECT_EQ(flags->options.model_control_mode, mode) << given;
  }
  EXPECT_EQ(Error({"--model-control-mode", "manual"}),
            "serve: --model-control-mode: expected none, poll or explicit, got 'manual'");
}

TEST(ServeFlagsTest, LoadModelRepeatsInExplicitMode) {
  absl::StatusOr<ServeFlags> flags = Parse(
      {"--model-control-mode", "explicit", "--load-model", "mlp", "--load-model=cnn", "--port=0"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->options.startup_models, (std::vector<std::string>{"mlp", "cnn"}));
  EXPECT_EQ(flags->options.port, 0);
  flags = Parse({"--model-control-mode=explicit", "--load-model=*"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->options.startup_models, std::vector<std::string>{"*"});
}

TEST(ServeFlagsTest, LoadModelErrors) {
  EXPECT_EQ(Error({"--model-control-mode=explicit", "--load-model=*", "--load-model", "mlp"}),
            "serve: --load-model: '*' (every model) must be the only --load-model");
  for (const std::string bad : {"", "a/b", "..", "."}) {
    EXPECT_THAT(Error({"--model-control-mode=explicit", "--load-model", bad}),
                HasSubstr("--load-model: expected a model name (a directory of the repository) "
                          "or '*', got '" +
                          bad + "'"));
  }
  EXPECT_EQ(Error({"--model-control-mode=explicit", "--load-model"}),
            "serve: flag --load-model expects a value");
  for (const std::string mode : {"none", "poll"}) {
    EXPECT_THAT(Error({"--model-control-mode", mode, "--load-model", "mlp"}),
                HasSubstr("--load-model needs --model-control-mode=explicit"));
  }
  EXPECT_THAT(Error({"--load-model", "mlp"}),
              HasSubstr("--load-model needs --model-control-mode=explicit"));
}

TEST(ServeFlagsTest, PollIntervalOnlyInPollMode) {
  absl::StatusOr<ServeFlags> flags =
      Parse({"--model-control-mode=poll", "--poll-interval-ms", "250"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->options.poll_interval_ms, 250);
  for (const std::string mode : {"none", "explicit"}) {
    EXPECT_THAT(Error({"--model-control-mode", mode, "--poll-interval-ms", "250"}),
                HasSubstr("--poll-interval-ms needs --model-control-mode=poll"));
  }
  EXPECT_EQ(Error({"--poll-interval-ms", "0"}),
            "serve: --poll-interval-ms: expected an integer in 1..86400000, got '0'");
}

TEST(ServeFlagsTest, HelpAndRequiredRepository) {
  absl::StatusOr<ServeFlags> flags = ParseServeFlags({"--help"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_TRUE(flags->help);
  absl::StatusOr<ServeFlags> missing = ParseServeFlags({"--port", "0"});
  EXPECT_THAT(missing.status().message(), HasSubstr("--model-repository is required"));
  EXPECT_THAT(Error({"--grpc-address", "0.0.0.0"}), HasSubstr("unknown flag '--grpc-address'"));
}

}  // namespace
}  // namespace fornax
