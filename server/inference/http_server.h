// HttpServer: the Open Inference Protocol over HTTP/REST (what Triton
// serves on port 8000) for `fornax serve`, on civetweb: a pool of threads,
// one per open connection, each reading a request's whole body and
// answering it through HttpRoutes (an inference blocks its thread until
// the model's batcher has answered).
//
// Connections are kept alive between requests (30 s), each holding its
// thread meanwhile, so more clients than threads would wait for an idle
// connection to time out. Instead, while every thread holds a connection,
// each reply closes its connection: one thread at least keeps turning
// over, and a connection waiting for a thread gets one after at most one
// request (docs/serving.md, "Connections").
//
// Bodies longer than max_body_bytes are refused with 413 before they are
// read; a body sent with Content-Encoding gzip or deflate is inflated
// before it is routed, with the same limit on what it inflates to, and a
// reply is compressed when Accept-Encoding asks (http_compression.h).
// Thread-safety: Stop may be called from any thread; the destructor
// stops.
#ifndef FORNAX_SERVER_INFERENCE_HTTP_SERVER_H_
#define FORNAX_SERVER_INFERENCE_HTTP_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "server/inference/inference_service.h"

struct mg_context;
struct mg_connection;

namespace fornax::serving {

class HttpRoutes;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  size_t max_body_bytes = 256 << 20;
  // Connections served at once (civetweb holds a thread per connection,
  // idle keep-alive ones included).
  int threads = 64;
};

class HttpServer {
 public:
  // `service` runs inferences; `channel` reaches the same service for the
  // other endpoints. Both must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           InferenceService* service,
                                                           std::shared_ptr<grpc::Channel> channel);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Stops listening, closes idle connections and waits until the requests
  // in flight have sent their replies (a request whose body is still
  // arriving is refused: 400). Returns within milliseconds when idle
  // (civetweb_sockets.h).
  void Stop();

 private:
  HttpServer(const HttpServerOptions& options, std::unique_ptr<HttpRoutes> routes);
  static int HandleRequest(mg_connection* connection, void* self);
  static int OnConnectionOpen(const mg_connection* connection, void** connection_data);
  static void OnConnectionClose(const mg_connection* connection);
  int Handle(mg_connection* connection);

  const HttpServerOptions options_;
  std::unique_ptr<HttpRoutes> routes_;
  mg_context* context_ = nullptr;
  int port_ = 0;
  // Connections civetweb's threads hold now.
  std::atomic<int> connections_{0};
  // Held while Stop shuts the connections' sockets; civetweb calls
  // OnConnectionClose, which takes it, before it closes one.
  std::mutex closing_mu_;
  std::condition_variable closed_;
  int64_t closes_ = 0;  // connections closed so far, under closing_mu_
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_HTTP_SERVER_H_
