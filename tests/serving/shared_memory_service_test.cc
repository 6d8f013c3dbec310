// The SystemSharedMemory RPCs of a real InferenceServer listening on every
// address (as a worker may): a client on the loopback registers a region; a
// client reaching the server through another address of this machine is
// refused (PERMISSION_DENIED naming its address), since a registration maps
// and lets outputs overwrite any shared memory object the server can open.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/mman.h>
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

TEST(SharedMemoryServiceTest, OnlyClientsOnTheLoopbackMayRegister) {
  const std::optional<std::string> other = OtherAddress();
  if (!other) GTEST_SKIP() << "this machine has no IPv4 address besides the loopback";
  const fs::path root = fs::temp_directory_path() / absl::StrCat("fornax_shm_service_", getpid());
  fs::create_directories(root);
  const std::string key = absl::StrCat("/fornax_shm_service_", getpid());
  const int fd = shm_open(key.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 4096), 0);
  close(fd);
  {
    InferenceServerOptions options;
    options.model_repository = root.string();
    options.host = "0.0.0.0";
    options.port = 0;
    options.http_port = -1;
    options.metrics_registry = std::make_shared<prometheus::Registry>();
    absl::StatusOr<std::unique_ptr<InferenceServer>> server = InferenceServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    const std::string port = std::to_string((*server)->grpc_port());

    const grpc::Status remote = Register(*other + ":" + port, key);
    EXPECT_EQ(remote.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(remote.error_message(),
                HasSubstr("system shared memory can only be registered by a client on this "
                          "machine (loopback or in-process), not ipv4:" +
                          *other + ":"));
    const grpc::Status local = Register("127.0.0.1:" + port, key);
    EXPECT_TRUE(local.ok()) << local.error_message();
  }
  shm_unlink(key.c_str());
  fs::remove_all(root);
}

}  // namespace
}  // namespace fornax::serving
