// HttpServer's connections (server/inference/http_server.h) over real
// loopback sockets: more clients than threads are all served while idle
// keep-alive connections hold threads; Stop closes idle connections and
// refuses new ones. And civetweb_sockets.h, which Stop relies on.
#include "server/inference/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/civetweb_sockets.h"
#include "server/inference/inference_server.h"

namespace fornax::serving {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kWaitMs = 10'000;  // well under civetweb's 30 s keep-alive

// A TCP socket closed on destruction.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(Socket&& other) : fd_(other.fd_) { other.fd_ = -1; }
  Socket& operator=(Socket&& other) {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in Loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A connected socket, or -1 with errno (ECONNREFUSED) in `error`.
Socket Connect(int port, int* error = nullptr) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in address = Loopback(port);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    if (error != nullptr) *error = errno;
    close(fd);
    return Socket(-1);
  }
  return Socket(fd);
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

void SendRequest(const Socket& s) {
  const std::string request = "GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n";
  ASSERT_EQ(send(s.fd(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
}

// The reply's status line and headers (the health reply has no body), ""
// when none came within kWaitMs or the server closed first.
std::string ReadReply(const Socket& s) {
  std::string reply;
  char c;
  while (reply.find("\r\n\r\n") == std::string::npos) {
    if (!Readable(s.fd(), kWaitMs) || recv(s.fd(), &c, 1, 0) != 1) return "";
    reply.push_back(c);
  }
  return reply;
}

// True when the server closed the connection (end-of-stream) within kWaitMs.
bool ClosedByServer(const Socket& s) {
  char c;
  return Readable(s.fd(), kWaitMs) && recv(s.fd(), &c, 1, 0) == 0;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / absl::StrCat("fornax_http_server_test_", ::getpid());
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<InferenceServer> Start(int threads) {
    InferenceServerOptions options;
    options.model_repository = root_.string();
    options.port = 0;
    options.http_port = 0;
    options.http_threads = threads;
    options.metrics_registry = std::make_shared<prometheus::Registry>();
    absl::StatusOr<std::unique_ptr<InferenceServer>> server = InferenceServer::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  fs::path root_;
};

TEST_F(HttpServerTest, MoreClientsThanThreadsAreServedWhileIdleConnectionsStayOpen) {
  std::unique_ptr<InferenceServer> server = Start(/*threads=*/2);
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  // One connection kept alive and left idle: it holds one of the 2 threads.
  Socket idle = Connect(port);
  SendRequest(idle);
  const std::string first = ReadReply(idle);
  EXPECT_THAT(first, HasSubstr("200 OK"));
  EXPECT_THAT(first, Not(HasSubstr("Connection: close")));
  // Five more clients at once: each gets the other thread in turn, and its
  // reply closes its connection so the next one gets it (without that, the
  // third would wait for a keep-alive timeout).
  std::vector<Socket> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(Connect(port));
    SendRequest(clients.back());
  }
  for (const Socket& client : clients) {
    const std::string reply = ReadReply(client);
    EXPECT_THAT(reply, HasSubstr("200 OK"));
    EXPECT_THAT(reply, HasSubstr("Connection: close"));
  }
  // The idle connection was kept and still serves (kept alive again: the
  // others are gone, so a thread is free).
  EXPECT_FALSE(Readable(idle.fd(), 0));
  SendRequest(idle);
  const std::string again = ReadReply(idle);
  EXPECT_THAT(again, HasSubstr("200 OK"));
  EXPECT_THAT(again, Not(HasSubstr("Connection: close")));
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAnswersTheOneInFlightAndRefusesNewOnes) {
  std::unique_ptr<InferenceServer> server = Start(/*threads=*/5);
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  std::vector<Socket> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(Connect(port));
    SendRequest(idle.back());
    ASSERT_THAT(ReadReply(idle.back()), HasSubstr("200 OK"));
  }
  // A request whose body is still arriving (10 of 100 bytes sent), then one
  // more connection: its reply shows the first was accepted (in order).
  Socket partial = Connect(port);
  const std::string head =
      "POST /v2/repository/index HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{}        ";
  ASSERT_EQ(send(partial.fd(), head.data(), head.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(head.size()));
  Socket probe = Connect(port);
  SendRequest(probe);
  ASSERT_THAT(ReadReply(probe), HasSubstr("200 OK"));
  server->Shutdown();  // returns with all of them still open client-side
  for (const Socket& s : idle) EXPECT_TRUE(ClosedByServer(s));
  // Its body cut short by the stop: the whole 400 reply still comes.
  const std::string reply = ReadReply(partial);
  EXPECT_THAT(reply, HasSubstr("400 Bad Request"));
  EXPECT_THAT(reply, HasSubstr("Content-Length: "));
  int error = 0;
  EXPECT_LT(Connect(port, &error).fd(), 0);
  EXPECT_EQ(error, ECONNREFUSED);
}

// A listening socket on a free loopback port, its port, and one accepted
// connection with its client end.
struct Listener {
  Socket listening{-1};
  int port = 0;
  Socket client{-1};
  Socket accepted{-1};
};

Listener Listen() {
  Listener l;
  l.listening = Socket(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in address = Loopback(0);
  EXPECT_EQ(bind(l.listening.fd(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(listen(l.listening.fd(), 8), 0);
  socklen_t len = sizeof(address);
  getsockname(l.listening.fd(), reinterpret_cast<sockaddr*>(&address), &len);
  l.port = ntohs(address.sin_port);
  l.client = Connect(l.port);
  l.accepted = Socket(accept(l.listening.fd(), nullptr, nullptr));
  return l;
}

TEST(CivetwebSocketsTest, ShutsTheAcceptedConnectionsReadSideOnThatPortOnly) {
  Listener target = Listen();
  Listener other = Listen();
  EXPECT_EQ(ShutdownAcceptedConnections(target.port), 1);
  char c;
  // The accepted end reads end-of-stream at once but can still reply.
  ASSERT_TRUE(Readable(target.accepted.fd(), 0));
  EXPECT_EQ(recv(target.accepted.fd(), &c, 1, 0), 0);
  EXPECT_EQ(send(target.accepted.fd(), "x", 1, MSG_NOSIGNAL), 1);
  ASSERT_TRUE(Readable(target.client.fd(), kWaitMs));
  EXPECT_EQ(recv(target.client.fd(), &c, 1, 0), 1);
  EXPECT_EQ(c, 'x');
  // The listener still accepts; another port's connection is untouched.
  Socket late = Connect(target.port);
  EXPECT_GE(late.fd(), 0);
  EXPECT_FALSE(Readable(other.accepted.fd(), 0));
  EXPECT_FALSE(Readable(target.client.fd(), 0));  // its client end too
}

TEST(CivetwebSocketsTest, ShutsTheListeningSocketOnThatPortOnly) {
  Listener target = Listen();
  Listener other = Listen();
  ShutdownListeningSocket(target.port);
  // A poll on it returns at once (what wakes civetweb's master thread).
  EXPECT_TRUE(Readable(target.listening.fd(), 0));
  int error = 0;
  EXPECT_LT(Connect(target.port, &error).fd(), 0);
  EXPECT_EQ(error, ECONNREFUSED);
  EXPECT_FALSE(Readable(target.accepted.fd(), 0));  // connections are left alone
  EXPECT_FALSE(Readable(other.listening.fd(), 0));
  EXPECT_GE(Connect(other.port).fd(), 0);
}

}  // namespace
}  // namespace fornax::serving
