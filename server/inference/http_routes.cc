#include "server/inference/http_routes.h"

#include <future>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/client_context.h"
#include "server/grpc_status.h"
#include "server/inference/http_infer.h"
#include "server/inference/http_json.h"
#include "server/inference/shared_memory.h"

namespace fornax::serving {
namespace {

using nlohmann::json;
using server::FromGrpc;

HttpReply JsonReply(const json& body) {
  HttpReply reply;
  reply.body = DumpJson(body);
  return reply;
}

// One unary call on the in-process channel, answered as ProtoToJson of the
// response (or of the part `pick` chooses).
template <typename Request, typename Response, typename Call>
HttpReply Unary(const Request& request, Call call,
                std::function<json(const Response&)> pick = nullptr) {
  grpc::ClientContext context;
  Response response;
  const grpc::Status status = call(&context, request, &response);
  if (!status.ok()) return ErrorReply(FromGrpc(status));
  return JsonReply(pick ? pick(response) : ProtoToJson(response));
}

// 200 with no body when `ok`, else 400 with `error` (Triton's answer to the
// health and readiness endpoints).
HttpReply Readiness(const grpc::Status& status, bool ok, const std::string& error) {
  if (!status.ok()) return ErrorReply(FromGrpc(status));
  if (!ok) return ErrorReply(absl::InvalidArgumentError(error));
  HttpReply reply;
  reply.content_type = "text/plain";
  return reply;
}

// A request body as a JSON object ({} when empty).
absl::StatusOr<json> OptionalObject(const std::string& body, const std::string& what) {
  if (body.empty()) return json::object();
  absl::StatusOr<json> parsed = ParseJson(body, what);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a JSON object"));
  }
  return parsed;
}

// The body of POST /v2/systemsharedmemory/region/NAME/register:
// {"key": string, "offset": integer (default 0), "byte_size": integer}.
absl::StatusOr<inference::SystemSharedMemoryRegisterRequest> ParseRegisterRequest(
    const std::string& body, const std::string& region) {
  const std::string what = absl::StrCat("the register request of region '", region, "'");
  // An empty body is {}: refused for its missing 'key'.
  absl::StatusOr<json> parsed = OptionalObject(body, what);
  if (!parsed.ok()) return parsed.status();
  inference::SystemSharedMemoryRegisterRequest query;
  query.set_name(region);
  auto key = parsed->find("key");
  if (key == parsed->end() || !key->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": 'key' must be a string"));
  }
  query.set_key(key->get<std::string>());
  // nlohmann parses every integer >= 0 as unsigned.
  auto byte_size = parsed->find("byte_size");
  if (byte_size == parsed->end() || !byte_size->is_number_unsigned()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": 'byte_size' must be a non-negative integer"));
  }
  query.set_byte_size(byte_size->get<uint64_t>());
  if (auto offset = parsed->find("offset"); offset != parsed->end()) {
    if (!offset->is_number_unsigned()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": 'offset' must be a non-negative integer"));
    }
    query.set_offset(offset->get<uint64_t>());
  }
  return query;
}

HttpReply MethodNotAllowed(const HttpRequest& request, const char* allowed) {
  HttpReply reply =
      JsonReply({{"error", absl::StrCat(request.method, " ", request.path,
                                        ": method not allowed (use ", allowed, ")")}});
  reply.status = 405;
  return reply;
}

}  // namespace

int HttpCode(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 413;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

HttpReply ErrorReply(const absl::Status& status) {
  HttpReply reply = JsonReply({{"error", std::string(status.message())}});
  reply.status = HttpCode(status);
  return reply;
}

HttpRoutes::HttpRoutes(InferenceService* service, std::shared_ptr<grpc::Channel> channel)
    : service_(service), stub_(inference::GRPCInferenceService::NewStub(std::move(channel))) {}

HttpReply HttpRoutes::Handle(HttpRequest& request) {
  const std::vector<std::string> parts = absl::StrSplit(request.path, '/', absl::SkipEmpty());
  const size_t n = parts.size();
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  if (n >= 1 && parts[0] == "v2") {
    if (n == 1 || (n == 3 && parts[1] == "health")) {
      if (!get) return MethodNotAllowed(request, "GET");
      grpc::ClientContext context;
      if (n == 1) {
        return Unary<inference::ServerMetadataRequest, inference::ServerMetadataResponse>(
            {}, [this](auto* c, const auto& q, auto* r) { return stub_->ServerMetadata(c, q, r); });
      }
      if (parts[2] == "live") {
        inference::ServerLiveResponse live;
        const grpc::Status status = stub_->ServerLive(&context, {}, &live);
        return Readiness(status, live.live(), "the server is not live");
      }
      if (parts[2] == "ready") {
        inference::ServerReadyResponse ready;
        const grpc::Status status = stub_->ServerReady(&context, {}, &ready);
        return Readiness(status, ready.ready(), "the server is not ready");
      }
    }
    // /v2/models/stats (every model) and /v2/models/M[/versions/V][/ACTION]
    if (n == 3 && parts[1] == "models" && parts[2] == "stats") {
      if (!get) return MethodNotAllowed(request, "GET");
      return ModelRoute(request, "", "", "stats");
    }
    if (n >= 3 && parts[1] == "models") {
      const bool versioned = n >= 5 && parts[3] == "versions";
      const size_t rest = versioned ? 5 : 3;
      if (n == rest || n == rest + 1) {
        return ModelRoute(request, parts[2], versioned ? parts[4] : "",
                          n == rest ? "" : parts[rest]);
      }
    }
    if (n == 3 && parts[1] == "repository" && parts[2] == "index") {
      if (!post) return MethodNotAllowed(request, "POST");
      return RepositoryRoute(request, "", "index");
    }
    if (n == 5 && parts[1] == "repository" && parts[2] == "models" &&
        (parts[4] == "load" || parts[4] == "unload")) {
      if (!post) return MethodNotAllowed(request, "POST");
      return RepositoryRoute(request, parts[3], parts[4]);
    }
    // /v2/systemsharedmemory[/region/NAME]/ACTION
    if ((n == 3 || (n == 5 && parts[2] == "region")) && parts[1] == "systemsharedmemory") {
      return SharedMemoryRoute(request, n == 5 ? parts[3] : "", parts[n - 1]);
    }
  }
  return ErrorReply(
      absl::NotFoundError(absl::StrCat("no endpoint ", request.method, " ", request.path,
                                       " (the Open Inference Protocol's are under /v2)")));
}

HttpReply HttpRoutes::ModelRoute(HttpRequest& request, const std::string& model,
                                 const std::string& version, const std::string& action) {
  if (action == "infer") {
    if (request.method != "POST") return MethodNotAllowed(request, "POST");
    return Infer(request, model, version);
  }
  if (request.method != "GET") return MethodNotAllowed(request, "GET");
  if (action.empty()) {
    inference::ModelMetadataRequest query;
    query.set_name(model);
    query.set_version(version);
    return Unary<inference::ModelMetadataRequest, inference::ModelMetadataResponse>(
        query, [this](auto* c, const auto& q, auto* r) { return stub_->ModelMetadata(c, q, r); });
  }
  if (action == "ready") {
    inference::ModelReadyRequest query;
    query.set_name(model);
    query.set_version(version);
    inference::ModelReadyResponse ready;
    grpc::ClientContext context;
    const grpc::Status status = stub_->ModelReady(&context, query, &ready);
    return Readiness(status, ready.ready(), absl::StrCat("model '", model, "' is not ready"));
  }
  if (action == "config") {
    inference::ModelConfigRequest query;
    query.set_name(model);
    query.set_version(version);
    // Triton's HTTP answer is the configuration itself, not {"config": ...}.
    return Unary<inference::ModelConfigRequest, inference::ModelConfigResponse>(
        query, [this](auto* c, const auto& q, auto* r) { return stub_->ModelConfig(c, q, r); },
        [](const inference::ModelConfigResponse& r) { return ProtoToJson(r.config()); });
  }
  if (action == "stats") {
    inference::ModelStatisticsRequest query;
    query.set_name(model);
    query.set_version(version);
    return Unary<inference::ModelStatisticsRequest, inference::ModelStatisticsResponse>(
        query, [this](auto* c, const auto& q, auto* r) { return stub_->ModelStatistics(c, q, r); });
  }
  return ErrorReply(
      absl::NotFoundError(absl::StrCat("no endpoint ", request.method, " ", request.path, ": '",
                                       action, "' is not one of ready, config, stats, infer")));
}

HttpReply HttpRoutes::RepositoryRoute(const HttpRequest& request, const std::string& model,
                                      const std::string& action) {
  const std::string what = absl::StrCat("the ", action, " request");
  absl::StatusOr<json> body = OptionalObject(request.body, what);
  if (!body.ok()) return ErrorReply(body.status());
  if (action == "index") {
    inference::RepositoryIndexRequest query;
    if (auto ready = body->find("ready"); ready != body->end()) {
      if (!ready->is_boolean()) {
        return ErrorReply(absl::InvalidArgumentError("'ready' must be true or false"));
      }
      query.set_ready(ready->get<bool>());
    }
    // Triton's HTTP answer is the list itself.
    return Unary<inference::RepositoryIndexRequest, inference::RepositoryIndexResponse>(
        query, [this](auto* c, const auto& q, auto* r) { return stub_->RepositoryIndex(c, q, r); },
        [](const inference::RepositoryIndexResponse& r) {
          json models = json::array();
          for (const auto& model : r.models()) models.push_back(ProtoToJson(model));
          return models;
        });
  }
  // Loading takes the model from the repository as it is: a configuration
  // or files sent with the request would be silently ignored, so they are
  // refused. unload_dependents has nothing to act on (no ensembles).
  const json parameters = body->value("parameters", json::object());
  if (!parameters.is_object()) {
    return ErrorReply(absl::InvalidArgumentError(
        absl::StrCat("the ", action, " request's 'parameters' must be an object")));
  }
  for (const auto& [name, value] : parameters.items()) {
    if (action == "unload" && name == "unload_dependents") continue;
    return ErrorReply(absl::InvalidArgumentError(
        absl::StrCat(action, " parameter '", name,
                     "' is not supported: models are loaded from the repository's files")));
  }
  grpc::ClientContext context;
  grpc::Status status;
  if (action == "load") {
    inference::RepositoryModelLoadRequest query;
    query.set_model_name(model);
    inference::RepositoryModelLoadResponse response;
    status = stub_->RepositoryModelLoad(&context, query, &response);
  } else {
    inference::RepositoryModelUnloadRequest query;
    query.set_model_name(model);
    inference::RepositoryModelUnloadResponse response;
    status = stub_->RepositoryModelUnload(&context, query, &response);
  }
  if (!status.ok()) return ErrorReply(FromGrpc(status));
  return JsonReply(json::object());
}

HttpReply HttpRoutes::SharedMemoryRoute(const HttpRequest& request, const std::string& region,
                                        const std::string& action) {
  if (action == "status") {
    if (request.method != "GET") return MethodNotAllowed(request, "GET");
    inference::SystemSharedMemoryStatusRequest query;
    query.set_name(region);
    // Triton's HTTP answer is a list of the regions (here by name).
    return Unary<inference::SystemSharedMemoryStatusRequest,
                 inference::SystemSharedMemoryStatusResponse>(
        query,
        [this](auto* c, const auto& q, auto* r) {
          return stub_->SystemSharedMemoryStatus(c, q, r);
        },
        [](const inference::SystemSharedMemoryStatusResponse& r) {
          std::map<std::string, json> sorted;
          for (const auto& [name, status] : r.regions()) sorted[name] = ProtoToJson(status);
          json regions = json::array();
          for (auto& [_, status] : sorted) regions.push_back(std::move(status));
          return regions;
        });
  }
  if (action == "unregister") {
    if (request.method != "POST") return MethodNotAllowed(request, "POST");
    inference::SystemSharedMemoryUnregisterRequest query;
    query.set_name(region);
    return Unary<inference::SystemSharedMemoryUnregisterRequest,
                 inference::SystemSharedMemoryUnregisterResponse>(
        query, [this](auto* c, const auto& q, auto* r) {
          return stub_->SystemSharedMemoryUnregister(c, q, r);
        });
  }
  if (action == "register" && !region.empty()) {
    if (request.method != "POST") return MethodNotAllowed(request, "POST");
    // The in-process call below reaches the service as a local peer: the
    // HTTP client's own address is what the rule is about.
    const absl::Status allowed = CheckRegisteringClient(request.peer);
    if (!allowed.ok()) return ErrorReply(allowed);
    absl::StatusOr<inference::SystemSharedMemoryRegisterRequest> query =
        ParseRegisterRequest(request.body, region);
    if (!query.ok()) return ErrorReply(query.status());
    return Unary<inference::SystemSharedMemoryRegisterRequest,
                 inference::SystemSharedMemoryRegisterResponse>(
        *query, [this](auto* c, const auto& q, auto* r) {
          return stub_->SystemSharedMemoryRegister(c, q, r);
        });
  }
  return ErrorReply(absl::NotFoundError(
      absl::StrCat("no endpoint ", request.method, " ", request.path,
                   " (system shared memory: /v2/systemsharedmemory[/region/NAME]/status, "
                   "/v2/systemsharedmemory/region/NAME/register, "
                   "/v2/systemsharedmemory[/region/NAME]/unregister)")));
}

HttpReply HttpRoutes::Infer(HttpRequest& request, const std::string& model,
                            const std::string& version) {
  // An unknown model is answered before a large body is decoded (and its
  // tensors held a second time), as Triton does.
  if (absl::Status served = service_->CheckServed(model, version); !served.ok()) {
    return ErrorReply(served);
  }
  std::optional<std::string> header_length = request.header("Inference-Header-Content-Length");
  absl::StatusOr<HttpInferRequest> decoded =
      DecodeHttpInferRequest(std::move(request.body), header_length, model, version);
  if (!decoded.ok()) return ErrorReply(decoded.status());
  inference::ModelInferResponse response;
  // `done` may run on a batcher thread while this handler thread waits; it
  // shares the promise, so the promise outlives its set_value even when the
  // wait returns first.
  auto finished = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> result = finished->get_future();
  service_->Infer(decoded->request, &response,
                  [finished](absl::Status status) { finished->set_value(std::move(status)); });
  const absl::Status status = result.get();
  if (!status.ok()) return ErrorReply(status);
  HttpInferResponse encoded = EncodeHttpInferResponse(response, *decoded);
  HttpReply reply;
  reply.body = std::move(encoded.body);
  reply.json_length = encoded.json_length;
  if (reply.json_length) reply.content_type = "application/octet-stream";
  return reply;
}

}  // namespace fornax::serving
