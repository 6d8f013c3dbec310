// Wall-clock milliseconds since the Unix epoch: the coordinator's one clock.
// Queue times are persisted, so they must mean the same after a restart.
#ifndef FORNAX_SERVER_CLOCK_H_
#define FORNAX_SERVER_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace fornax::server {

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace fornax::server

#endif  // FORNAX_SERVER_CLOCK_H_
