// Follows a job's event log over Jobs.WatchJob and survives dropped streams:
// after a retryable error (UNAVAILABLE, a coordinator restart, ...) it
// reconnects with after_sequence = the last sequence it delivered, with
// exponential backoff, so every event reaches the caller exactly once and in
// order. Events at or below the last delivered sequence are dropped (a
// resend), a jump ahead is reported as a notice.
//
// The commands that follow a job (`fornax logs -f`, `fornax submit --follow`)
// also wait for a coordinator that is not up yet or restarting: their
// GetJob (GetJobWaiting) and every WatchJob retry with the same backoff for
// a bounded time. One-shot commands do not: their calls fail fast (gRPC's
// default, no wait_for_ready) with the coordinator's address in the error.
// Thread-safety: one call per thread; the stubs are gRPC's.
#ifndef FORNAX_CLIENT_JOB_WATCHER_H_
#define FORNAX_CLIENT_JOB_WATCHER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/service_client.h"
#include "proto/fornax/v1/jobs.grpc.pb.h"

namespace fornax {

struct WatchOptions {
  int64_t after_sequence = 0;
  // Stop once this sequence has been delivered (`logs` without -f); 0 waits
  // for the job's final state.
  int64_t until_sequence = 0;
  // Waits between attempts: initial_backoff, doubling up to max_backoff.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  // Give up after failing this long without getting through.
  std::chrono::milliseconds give_up_after{30000};
  std::ostream* notices = nullptr;  // reconnect notes for people (stderr)
};

bool IsFinalState(v1::JobState state);

// Jobs.GetJob, retrying UNAVAILABLE (nothing listens at the address yet, or
// the coordinator restarts) with the options' backoff until give_up_after;
// the first failure puts "fornax: coordinator ADDR unavailable; retrying"
// on options.notices. Other errors return at once.
absl::StatusOr<v1::Job> GetJobWaiting(ServiceClient& client, const std::string& job_id,
                                      const WatchOptions& options);

// Calls `on_event` for each event with sequence > after_sequence, once each,
// in order; returns when the job reached a final state (or until_sequence),
// or with the error that made it stop (not retryable, or give_up_after).
absl::Status WatchJobEvents(v1::Jobs::StubInterface& stub, const std::string& job_id,
                            const WatchOptions& options,
                            const std::function<void(const v1::JobEvent&)>& on_event);

}  // namespace fornax

#endif  // FORNAX_CLIENT_JOB_WATCHER_H_
