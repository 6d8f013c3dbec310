// The SystemSharedMemory RPCs of a real InferenceServer listening on every
// address (as a worker may): a client on the loopback registers a region; a
// client reaching the server through another address of this machine is
// refused (PERMISSION_DENIED naming its address; over HTTP 403), since a
// registration maps and lets outputs overwrite any shared memory object the
// server can open. And the rule itself on every form of peer address.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "server/inference/inference_server.h"
#include "server/inference/shared_memory.h"
#include "tests/serving/http_test_util.h"

namespace fornax::serving {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// An IPv4 address of this machine other than the loopback, if it has one.
std::optional<std::string> OtherAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<std::string> found;
  for (ifaddrs* a = list; a != nullptr && !found; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    const in_addr address = reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr;
    if ((ntohl(address.s_addr) >> 24) == 127) continue;
    char text[INET_ADDRSTRLEN];
    found = inet_ntop(AF_INET, &address, text, sizeof(text));
  }
  freeifaddrs(list);
  return found;
}

grpc::Status Register(const std::string& address, const std::string& key) {
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  inference::SystemSharedMemoryRegisterRequest request;
  request.set_name("r");
  request.set_key(key);
  request.set_byte_size(64);
  inference::SystemSharedMemoryRegisterResponse response;
  grpc::ClientContext context;
  return stub->SystemSharedMemoryRegister(&context, request, &response);
}

// POSTs an HTTP register request for region "r" of `key` to address:port;
// returns the whole reply (status line, headers, body).
std::string RegisterOverHttp(const std::string& address, int port, const std::string& key) {
  return testing::PostOverHttp(address, port, "/v2/systemsharedmemory/region/r/register",
                               absl::StrCat(R"({"key":")", key, R"(","byte_size":64})"));
}

// A server listening on every address (gRPC and HTTP), with a 4 KiB shared
// memory object to register.
class SharedMemoryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / absl::StrCat("fornax_shm_service_", getpid());
    fs::create_directories(root_);
    key_ = absl::StrCat("/fornax_shm_service_", getpid());
    const int fd = shm_open(key_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 4096), 0);
    close(fd);
    InferenceServerOptions options;
    options.model_repository = root_.string();
    options.host = "0.0.0.0";
    options.port = 0;
    options.http_port = 0;
    options.metrics_registry = std::make_shared<prometheus::Registry>();
    absl::StatusOr<std::unique_ptr<InferenceServer>> server = InferenceServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    server_.reset();
    shm_unlink(key_.c_str());
    fs::remove_all(root_);
  }

  fs::path root_;
  std::string key_;
  std::unique_ptr<InferenceServer> server_;
};

TEST_F(SharedMemoryServiceTest, OnlyClientsOnTheLoopbackMayRegister) {
  const std::optional<std::string> other = OtherAddress();
  if (!other) GTEST_SKIP() << "this machine has no IPv4 address besides the loopback";
  const std::string port = std::to_string(server_->grpc_port());
  const grpc::Status remote = Register(*other + ":" + port, key_);
  EXPECT_EQ(remote.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(remote.error_message(),
              HasSubstr("system shared memory can only be registered by a client on this "
                        "machine (loopback or in-process), not ipv4:" +
                        *other + ":"));
  const grpc::Status local = Register("127.0.0.1:" + port, key_);
  EXPECT_TRUE(local.ok()) << local.error_message();
}

// HTTP reaches the service through its in-process channel, so the HTTP
// client's own address is checked: the same rule, 403 with the same message.
TEST_F(SharedMemoryServiceTest, OnlyClientsOnTheLoopbackMayRegisterOverHttp) {
  const std::optional<std::string> other = OtherAddress();
  if (!other) GTEST_SKIP() << "this machine has no IPv4 address besides the loopback";
  const std::string remote = RegisterOverHttp(*other, server_->http_port(), key_);
  EXPECT_THAT(remote, HasSubstr("HTTP/1.1 403"));
  EXPECT_THAT(remote, HasSubstr("system shared memory can only be registered by a client on this "
                                "machine (loopback or in-process), not ipv4:" +
                                *other + ":"));
  const std::string local = RegisterOverHttp("127.0.0.1", server_->http_port(), key_);
  EXPECT_THAT(local, HasSubstr("HTTP/1.1 200"));
  // Registered once: the refused request left nothing behind.
  EXPECT_THAT(RegisterOverHttp("127.0.0.1", server_->http_port(), key_),
              HasSubstr("system shared memory region 'r' is already registered"));
}

TEST(CheckRegisteringClientTest, ReadsTheAddressOfEveryPeerForm) {
  for (const char* local : {"ipv4:127.0.0.1:5000", "ipv4:127.8.9.10:1", "ipv6:[::1]:5000",
                            "ipv6:%5B::1%5D:5000", "ipv6:[::ffff:127.0.0.1]:80",
                            "ipv6:%5B::ffff:127.0.0.2%5D:80", "unix:/tmp/socket", "unknown"}) {
    EXPECT_TRUE(CheckRegisteringClient(local).ok()) << local;
  }
  for (const char* remote :
       {"ipv4:10.0.0.5:41230", "ipv4:128.0.0.1:1", "ipv4:1270.0.0.1:1", "ipv4:127:1",
        "ipv6:[fd00::2]:5000", "ipv6:%5B::2%5D:5000", "ipv6:[::ffff:10.0.0.1]:80", "ipv6:x[::1]:1",
        "ipv6:[::1:1", "", "tcp:127.0.0.1:1"}) {
    const absl::Status status = CheckRegisteringClient(remote);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << remote;
    EXPECT_EQ(status.message(), std::string("system shared memory can only be registered by a "
                                            "client on this machine (loopback or in-process), "
                                            "not ") +
                                    remote);
  }
}

}  // namespace
}  // namespace fornax::serving
