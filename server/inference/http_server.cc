#include "server/inference/http_server.h"

#include <civetweb.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "server/inference/civetweb_sockets.h"
#include "server/inference/http_compression.h"
#include "server/inference/http_routes.h"

namespace fornax::serving {
namespace {

// mg_read takes at most this much per call (it returns an int).
constexpr size_t kReadChunk = 1 << 20;
// civetweb's request_timeout_ms (its default): a connection waiting for data
// or a reply waiting to be sent gives up after it.
constexpr std::chrono::milliseconds kStopWait{30'000};

// Reads the request body into `body`. ResourceExhausted (413) when it is
// longer than `limit`, checked before reading when Content-Length says so;
// InvalidArgument when the client stops sending before Content-Length.
absl::Status ReadBody(mg_connection* connection, size_t limit, std::string* body) {
  const long long declared = mg_get_request_info(connection)->content_length;
  if (declared > static_cast<long long>(limit)) {
    return absl::ResourceExhaustedError(absl::StrCat("the request body has ", declared,
                                                     " bytes; at most ", limit, " are accepted"));
  }
  if (declared >= 0) {
    body->resize(static_cast<size_t>(declared));
    size_t have = 0;
    while (have < body->size()) {
      const int got =
          mg_read(connection, body->data() + have, std::min(kReadChunk, body->size() - have));
      if (got <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("the request body ended after ", have, " of its ", declared, " bytes"));
      }
      have += static_cast<size_t>(got);
    }
    return absl::OkStatus();
  }
  // No Content-Length (chunked): read to the end, up to the limit.
  std::string chunk(kReadChunk, '\0');
  for (int got; (got = mg_read(connection, chunk.data(), chunk.size())) > 0;) {
    if (body->size() + static_cast<size_t>(got) > limit) {
      return absl::ResourceExhaustedError(absl::StrCat("the request body has more than ", limit,
                                                       " bytes; at most ", limit, " are accepted"));
    }
    body->append(chunk.data(), static_cast<size_t>(got));
  }
  return absl::OkStatus();
}

// Inflates a compressed request body in place (http_compression.h); a
// body-less request has nothing to decode.
absl::Status DecodeBody(const std::optional<std::string>& content_encoding, size_t limit,
                        std::string* body) {
  if (body->empty()) return absl::OkStatus();
  absl::StatusOr<std::optional<ContentCoding>> coding = RequestCoding(content_encoding);
  if (!coding.ok()) return coding.status();
  if (!coding->has_value()) return absl::OkStatus();
  absl::StatusOr<std::string> inflated = Inflate(*body, **coding, limit);
  if (!inflated.ok()) return inflated.status();
  *body = *std::move(inflated);
  return absl::OkStatus();
}

// Sends `reply`, its body compressed in `coding` when given.
int Send(mg_connection* connection, HttpReply reply,
         std::optional<ContentCoding> coding = std::nullopt) {
  mg_response_header_start(connection, reply.status);
  mg_response_header_add(connection, "Content-Type", reply.content_type.c_str(), -1);
  if (coding.has_value() && !reply.body.empty()) {
    reply.body = Deflate(reply.body, *coding);
    mg_response_header_add(connection, "Content-Encoding", CodingName(*coding), -1);
  }
  mg_response_header_add(connection, "Content-Length", std::to_string(reply.body.size()).c_str(),
                         -1);
  if (reply.json_length) {
    mg_response_header_add(connection, "Inference-Header-Content-Length",
                           std::to_string(*reply.json_length).c_str(), -1);
  }
  mg_response_header_send(connection);
  if (!reply.body.empty()) mg_write(connection, reply.body.data(), reply.body.size());
  return reply.status;
}

}  // namespace

HttpServer::HttpServer(const HttpServerOptions& options, std::unique_ptr<HttpRoutes> routes)
    : options_(options), routes_(std::move(routes)) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, InferenceService* service,
    std::shared_ptr<grpc::Channel> channel) {
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });
  std::unique_ptr<HttpServer> server(
      new HttpServer(options, std::make_unique<HttpRoutes>(service, std::move(channel))));
  const std::string address = absl::StrCat(options.host, ":", options.port);
  const std::string threads = std::to_string(options.threads);
  const char* config[] = {"listening_ports", address.c_str(), "num_threads", threads.c_str(),
                          "enable_keep_alive", "yes",
                          // Clients keep connections between requests
                          // (tritonclient's pool, perf_analyzer).
                          "keep_alive_timeout_ms", "30000",
                          // Small replies go out at once, not after a
                          // delayed ACK.
                          "tcp_nodelay", "1", nullptr};
  mg_callbacks callbacks{};
  callbacks.init_connection = &HttpServer::OnConnectionOpen;
  callbacks.connection_close = &HttpServer::OnConnectionClose;
  mg_init_data init_data{&callbacks, server.get(), config};
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  server->context_ = mg_start2(&init_data, &error);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("serve: cannot listen for HTTP on ", address, ": ", error_text));
  }
  mg_set_request_handler(server->context_, "/", &HttpServer::HandleRequest, server.get());
  mg_server_port port{};
  if (mg_get_server_ports(server->context_, 1, &port) != 1) {
    return absl::InternalError(absl::StrCat("serve: no HTTP port after listening on ", address));
  }
  server->port_ = port.port;
  return server;
}

void HttpServer::Stop() {
  if (context_ == nullptr) return;
  // Without these, mg_stop waits for civetweb's 2 s polls to see its flag.
  ShutdownListeningSocket(port_);
  {
    std::unique_lock<std::mutex> lock(closing_mu_);
    const int64_t closes_before = closes_;
    const int shut = ShutdownAcceptedConnections(port_);
    // civetweb drops whatever is written once mg_stop has set its flag, so
    // every connection (reading end-of-stream now) first answers the
    // request it has and closes. Its own request timeout bounds that.
    closed_.wait_for(lock, kStopWait, [&] { return closes_ - closes_before >= shut; });
  }
  mg_stop(context_);  // joins every worker thread
  context_ = nullptr;
}

int HttpServer::HandleRequest(mg_connection* connection, void* self) {
  return static_cast<HttpServer*>(self)->Handle(connection);
}

int HttpServer::OnConnectionOpen(const mg_connection* connection, void** /*connection_data*/) {
  auto* self = static_cast<HttpServer*>(mg_get_user_data(mg_get_context(connection)));
  ++self->connections_;
  return 0;
}

void HttpServer::OnConnectionClose(const mg_connection* connection) {
  auto* self = static_cast<HttpServer*>(mg_get_user_data(mg_get_context(connection)));
  std::lock_guard<std::mutex> lock(self->closing_mu_);  // Stop may be shutting its socket
  --self->connections_;
  ++self->closes_;
  self->closed_.notify_all();
}

int HttpServer::Handle(mg_connection* connection) {
  const mg_request_info* info = mg_get_request_info(connection);
  HttpRequest request;
  request.method = info->request_method;
  // local_uri_raw is decoded but not cleaned of '..' (there are no files).
  request.path = info->local_uri_raw != nullptr ? info->local_uri_raw : info->local_uri;
  const bool ipv6 = std::string_view(info->remote_addr).find(':') != std::string_view::npos;
  request.peer = ipv6 ? absl::StrCat("ipv6:[", info->remote_addr, "]:", info->remote_port)
                      : absl::StrCat("ipv4:", info->remote_addr, ":", info->remote_port);
  request.header = [connection](const char* name) -> std::optional<std::string> {
    const char* value = mg_get_header(connection, name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  // This is a C callback: nothing may be thrown through it. Allocation
  // failures (a body at the limit on a small machine) become a 500.
  try {
    absl::Status read = ReadBody(connection, options_.max_body_bytes, &request.body);
    if (!read.ok()) {
      // Whatever is left of the body would be read as the next request.
      mg_disable_keep_alive(connection);
      return Send(connection, ErrorReply(read));
    }
    // Every thread holds a connection: let this one go after its reply, so
    // a connection waiting for a thread gets this one.
    if (connections_.load() >= options_.threads) mg_disable_keep_alive(connection);
    // The inflated body has the same limit as the body read.
    absl::Status decoded =
        DecodeBody(request.header("Content-Encoding"), options_.max_body_bytes, &request.body);
    return Send(connection, decoded.ok() ? routes_->Handle(request) : ErrorReply(decoded),
                ReplyCoding(request.header("Accept-Encoding")));
  } catch (const std::exception& e) {
    std::cerr << "fornax serve: HTTP " << request.method << " " << request.path << ": " << e.what()
              << "\n";
    return Send(connection, ErrorReply(absl::InternalError(e.what())));
  }
}

}  // namespace fornax::serving
