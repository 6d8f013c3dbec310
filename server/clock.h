// The coordinator's one clock: wall-clock time since the Unix epoch. Queue
// times are persisted, so they must mean the same after a restart.
#ifndef FORNAX_SERVER_CLOCK_H_
#define FORNAX_SERVER_CLOCK_H_

#include <chrono>
#include <cstdint>

#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"

namespace fornax::server {

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Now as a proto Timestamp with nanoseconds. TimeUtil::GetCurrentTime()
// is not used: Debian's protobuf fills only whole seconds, so events within
// one second would share a time.
inline google::protobuf::Timestamp NowTimestamp() {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace fornax::server

#endif  // FORNAX_SERVER_CLOCK_H_
