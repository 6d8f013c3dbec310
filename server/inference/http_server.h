// HttpServer: the Open Inference Protocol over HTTP/REST (what Triton
// serves on port 8000) for `fornax serve`, on civetweb: a pool of threads,
// one per open connection, each reading a request's whole body and
// answering it through HttpRoutes (an inference blocks its thread until
// the model's batcher has answered).
//
// Bodies longer than max_body_bytes are refused with 413 before they are
// read. Thread-safety: Stop may be called from any thread; the destructor
// stops.
#ifndef FORNAX_SERVER_INFERENCE_HTTP_SERVER_H_
#define FORNAX_SERVER_INFERENCE_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
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
  // Stops listening and waits for the requests in flight.
  void Stop();

 private:
  HttpServer(const HttpServerOptions& options, std::unique_ptr<HttpRoutes> routes);
  static int HandleRequest(mg_connection* connection, void* self);
  int Handle(mg_connection* connection);

  const HttpServerOptions options_;
  std::unique_ptr<HttpRoutes> routes_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_HTTP_SERVER_H_
