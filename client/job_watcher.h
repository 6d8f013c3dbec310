// Follows a job's event log over Jobs.WatchJob and survives dropped streams:
// after a retryable error (UNAVAILABLE, a coordinator restart, ...) it
// reconnects with after_sequence = the last sequence it delivered, with
// exponential backoff, so every event reaches the caller exactly once and in
// order. Events at or below the last delivered sequence are dropped (a
// resend), a jump ahead is reported as a notice.
// Thread-safety: one WatchJobEvents call per thread; the stub is gRPC's.
#ifndef FORNAX_CLIENT_JOB_WATCHER_H_
#define FORNAX_CLIENT_JOB_WATCHER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "proto/fornax/v1/jobs.grpc.pb.h"

namespace fornax {

struct WatchOptions {
  int64_t after_sequence = 0;
  // Stop once this sequence has been delivered (`logs` without -f); 0 waits
  // for the job's final state.
  int64_t until_sequence = 0;
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{2000};
  // Give up after failing this long without delivering an event.
  std::chrono::milliseconds give_up_after{120000};
  std::ostream* notices = nullptr;  // reconnect notes for people (stderr)
};

bool IsFinalState(v1::JobState state);

// Calls `on_event` for each event with sequence > after_sequence, once each,
// in order; returns when the job reached a final state (or until_sequence),
// or with the error that made it stop (not retryable, or give_up_after).
absl::Status WatchJobEvents(v1::Jobs::StubInterface& stub, const std::string& job_id,
                            const WatchOptions& options,
                            const std::function<void(const v1::JobEvent&)>& on_event);

}  // namespace fornax

#endif  // FORNAX_CLIENT_JOB_WATCHER_H_
