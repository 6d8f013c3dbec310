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
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/civetweb_sockets.h"
#include "server/inference/http_compression.h"
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

  std::unique_ptr<InferenceServer> Start(int threads, int max_message_bytes = 256 << 20) {
    InferenceServerOptions options;
    options.max_message_bytes = max_message_bytes;
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
    // Gone on the server's side too (it counts connections when they
    // close, after the reply): else the next request could still find
    // every thread taken, now and then under load.
    EXPECT_TRUE(ClosedByServer(client));
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

// Sends `request` on a new connection; returns the reply's head (status
// line and headers) and its body (Content-Length bytes).
std::pair<std::string, std::string> Exchange(int port, const std::string& request) {
  Socket s = Connect(port);
  EXPECT_EQ(send(s.fd(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  const std::string head = ReadReply(s);
  const size_t at = head.find("Content-Length: ");
  if (at == std::string::npos) return {head, ""};
  std::string body(std::stoul(head.substr(at + 16)), '\0');
  size_t have = 0;
  while (have < body.size() && Readable(s.fd(), kWaitMs)) {
    const ssize_t got = recv(s.fd(), body.data() + have, body.size() - have, 0);
    if (got <= 0) break;
    have += static_cast<size_t>(got);
  }
  body.resize(have);
  return {head, body};
}

std::string Post(const std::string& path, const std::string& headers, const std::string& body) {
  return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: test\r\n", headers,
                      "Content-Length: ", body.size(), "\r\n\r\n", body);
}

// Content-Encoding gzip/deflate bodies are inflated before routing, within
// the body limit (a bomb gets 413), corrupt ones get 400, and replies are
// compressed when Accept-Encoding asks (http_compression.h).
TEST_F(HttpServerTest, CompressedBodiesAreInflatedWithinTheLimitAndRepliesCompressed) {
  std::unique_ptr<InferenceServer> server = Start(/*threads=*/4, /*max_message_bytes=*/1 << 20);
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  const std::string index = "/v2/repository/index";
  for (ContentCoding coding : {ContentCoding::kGzip, ContentCoding::kDeflate}) {
    const auto [head, body] =
        Exchange(port, Post(index, absl::StrCat("Content-Encoding: ", CodingName(coding), "\r\n"),
                            Deflate(R"({"ready": true})", coding)));
    EXPECT_THAT(head, HasSubstr("200 OK")) << CodingName(coding);
    EXPECT_EQ(body, "[]");
  }
  // 4 MiB of zeros in 4 KiB: refused once 1 MiB (the limit) is inflated.
  const std::string bomb = Deflate(std::string(4 << 20, '\0'), ContentCoding::kGzip);
  EXPECT_LT(bomb.size(), 8u << 10);
  auto [head, body] = Exchange(port, Post(index, "Content-Encoding: gzip\r\n", bomb));
  EXPECT_THAT(head, HasSubstr("413"));
  EXPECT_THAT(body, HasSubstr("the request body inflates (Content-Encoding: gzip) to more than "
                              "1048576 bytes; at most 1048576 are accepted"));
  std::tie(head, body) = Exchange(port, Post(index, "Content-Encoding: deflate\r\n", "{}"));
  EXPECT_THAT(head, HasSubstr("400 Bad Request"));
  EXPECT_THAT(body, HasSubstr("the request body is not valid deflate data (Content-Encoding: "
                              "deflate): incorrect header check"));
  std::tie(head, body) = Exchange(port, Post(index, "Content-Encoding: br\r\n", "{}"));
  EXPECT_THAT(head, HasSubstr("501"));
  EXPECT_THAT(body,
              HasSubstr("Content-Encoding 'br' is not supported (gzip, deflate or identity)"));
  // Replies: compressed as asked, plain otherwise.
  std::tie(head, body) =
      Exchange(port, "GET /v2 HTTP/1.1\r\nHost: test\r\nAccept-Encoding: deflate\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("Content-Encoding: deflate"));
  absl::StatusOr<std::string> metadata = Inflate(body, ContentCoding::kDeflate, 1 << 20);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_THAT(*metadata, HasSubstr(R"("name":"fornax")"));
  std::tie(head, body) = Exchange(port, "GET /v2 HTTP/1.1\r\nHost: test\r\n\r\n");
  EXPECT_THAT(head, Not(HasSubstr("Content-Encoding")));
  EXPECT_THAT(body, HasSubstr(R"("name":"fornax")"));
}

// An infer request for a model not served is answered 404 before its body
// is decoded: a body that would be refused (400) as a request gets 404 too.
TEST_F(HttpServerTest, AnInferenceForAnUnknownModelIs404BeforeItsBodyIsDecoded) {
  std::unique_ptr<InferenceServer> server = Start(/*threads=*/2);
  ASSERT_NE(server, nullptr);
  for (const std::string& body : {std::string("not json"), std::string(R"({"inputs":[]})")}) {
    const auto [head, reply] =
        Exchange(server->http_port(), Post("/v2/models/nope/infer", "", body));
    EXPECT_THAT(head, HasSubstr("404")) << body;
    EXPECT_THAT(reply, HasSubstr("unknown model 'nope'")) << body;
  }
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
