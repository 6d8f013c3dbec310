// Error propagation helpers for absl::Status / absl::StatusOr.
//
// Debian's abseil (20220623) predates absl's own status macros, so Fornax
// defines the two it needs here, once. Use them to chain fallible steps:
//
//   FORNAX_RETURN_IF_ERROR(file.Open(path));
//   FORNAX_ASSIGN_OR_RETURN(Tensor t, ReadNpy(path));
#ifndef FORNAX_ENGINE_BASE_STATUS_MACROS_H_
#define FORNAX_ENGINE_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FORNAX_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status fornax_status_ = (expr);          \
    if (!fornax_status_.ok()) return fornax_status_; \
  } while (0)

#define FORNAX_CONCAT_INNER_(a, b) a##b
#define FORNAX_CONCAT_(a, b) FORNAX_CONCAT_INNER_(a, b)

#define FORNAX_ASSIGN_OR_RETURN(lhs, rexpr) \
  FORNAX_ASSIGN_OR_RETURN_IMPL_(FORNAX_CONCAT_(fornax_statusor_, __LINE__), lhs, rexpr)

#define FORNAX_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return statusor.status();             \
  lhs = std::move(statusor).value()

#endif  // FORNAX_ENGINE_BASE_STATUS_MACROS_H_
