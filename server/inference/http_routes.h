// HttpRoutes: the Open Inference Protocol's HTTP/REST endpoints (KServe v2
// REST with Triton's additions, as tritonclient.http and perf_analyzer -i
// http call them), each answered by the gRPC InferenceService:
//
//   GET  /v2                                   server metadata
//   GET  /v2/health/live, /v2/health/ready     200 or 400
//   GET  /v2/models/stats                      statistics of every model
//   GET  /v2/models/M[/versions/V]             model metadata
//   GET  .../ready                             200 or 400
//   GET  .../config, .../stats                 configuration, statistics
//   POST .../infer                             inference (http_infer.h)
//   POST /v2/repository/index                  [{"name","version","state","reason"}]
//   POST /v2/repository/models/M/load|unload
//   GET  /v2/systemsharedmemory[/region/R]/status      [{"name","key","offset","byte_size"}]
//   POST /v2/systemsharedmemory/region/R/register      {"key","offset","byte_size"}
//   POST /v2/systemsharedmemory[/region/R]/unregister  (all without R)
//
// Inference calls InferenceService::Infer directly; the rest goes through a
// gRPC channel to the same service (in process), so both protocols give the
// same answers and errors from one implementation. Answers are JSON; errors
// are {"error": "..."} with the HTTP code of the status (HttpCode).
// Thread-safety: Handle may be called concurrently.
#ifndef FORNAX_SERVER_INFERENCE_HTTP_ROUTES_H_
#define FORNAX_SERVER_INFERENCE_HTTP_ROUTES_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/channel.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "server/inference/inference_service.h"

namespace fornax::serving {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // URL-decoded, without the query
  std::string body;
  // The client's address in gRPC's peer form ("ipv4:127.0.0.1:5000",
  // "ipv6:[::1]:5000"), for the shared memory registration rule.
  std::string peer;
  // A request header's value, if present.
  std::function<std::optional<std::string>(const char* name)> header;
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  // Inference-Header-Content-Length: set when binary data follows the JSON.
  std::optional<size_t> json_length;
};

// The HTTP status for an error status (400 bad input, 404 unknown model, ...).
int HttpCode(const absl::Status& status);
// {"error": message} with HttpCode(status).
HttpReply ErrorReply(const absl::Status& status);

class HttpRoutes {
 public:
  HttpRoutes(InferenceService* service, std::shared_ptr<grpc::Channel> channel);

  // Takes an inference request's body (left empty): its last binary tensor
  // takes the bytes over instead of a copy.
  HttpReply Handle(HttpRequest& request);

 private:
  HttpReply ModelRoute(HttpRequest& request, const std::string& model, const std::string& version,
                       const std::string& action);
  HttpReply RepositoryRoute(const HttpRequest& request, const std::string& model,
                            const std::string& action);
  HttpReply SharedMemoryRoute(const HttpRequest& request, const std::string& region,
                              const std::string& action);
  HttpReply Infer(HttpRequest& request, const std::string& model, const std::string& version);

  InferenceService* service_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_HTTP_ROUTES_H_
