// absl::Status <-> grpc::Status: the codes are the same numbers.
#ifndef FORNAX_SERVER_GRPC_STATUS_H_
#define FORNAX_SERVER_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace fornax::server {

inline grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

inline absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace fornax::server

#endif  // FORNAX_SERVER_GRPC_STATUS_H_
