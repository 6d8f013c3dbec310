#include "client/job_watcher.h"

#include <algorithm>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/service_client.h"

namespace fornax {
namespace {

// Errors that say the request itself is wrong; retrying cannot help.
bool IsRetryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return false;
    default:
      return true;
  }
}

}  // namespace

bool IsFinalState(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

absl::Status WatchJobEvents(v1::Jobs::StubInterface& stub, const std::string& job_id,
                            const WatchOptions& options,
                            const std::function<void(const v1::JobEvent&)>& on_event) {
  using Clock = std::chrono::steady_clock;
  int64_t last = options.after_sequence;
  std::chrono::milliseconds backoff = options.initial_backoff;
  std::optional<Clock::time_point> failing_since;  // of this run of failed attempts
  bool ended = false;                              // the job's final state arrived
  auto done = [&] { return options.until_sequence > 0 && last >= options.until_sequence; };
  if (done()) return absl::OkStatus();
  for (;;) {
    grpc::ClientContext context;
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    request.set_after_sequence(last);
    std::unique_ptr<grpc::ClientReaderInterface<v1::JobEvent>> reader =
        stub.WatchJob(&context, request);
    v1::JobEvent event;
    bool delivered = false;
    while (!done() && !ended && reader->Read(&event)) {
      if (event.sequence() <= last) continue;  // a resend after a reconnect
      if (event.sequence() != last + 1 && options.notices != nullptr) {
        *options.notices << "fornax: warning: job " << job_id << ": events " << last + 1 << ".."
                         << event.sequence() - 1 << " are missing from the stream\n";
      }
      if (failing_since && !delivered && options.notices != nullptr) {
        *options.notices << "fornax: event stream back, resumed after event " << last << "\n"
                         << std::flush;
      }
      last = event.sequence();
      delivered = true;
      on_event(event);
      ended = event.has_state() && IsFinalState(event.state().state());
    }
    // Nothing follows a final state; a stream that broke right after it
    // has nothing more to give.
    if (done() || ended) {
      context.TryCancel();
      reader->Finish();
      return absl::OkStatus();
    }
    const grpc::Status status = reader->Finish();
    if (!status.ok() && !IsRetryable(status.error_code())) return FromGrpc(status);
    // A dropped stream, or one the server closed before the job ended
    // (shutting down): come back for the rest.
    const Clock::time_point now = Clock::now();
    if (delivered) {
      backoff = options.initial_backoff;
      failing_since.reset();
    }
    if (!failing_since) failing_since = now;
    if (now - *failing_since >= options.give_up_after) {
      return absl::UnavailableError(absl::StrCat(
          "job ", job_id, ": lost the event stream for ",
          std::chrono::duration_cast<std::chrono::seconds>(now - *failing_since).count(), " s (",
          status.ok() ? "closed" : status.error_message(), "); last event ", last));
    }
    // One note per outage, not one per attempt.
    if (options.notices != nullptr && backoff == options.initial_backoff) {
      *options.notices << "fornax: event stream "
                       << (status.ok() ? std::string("closed")
                                       : absl::StrCat("lost (", status.error_message(), ")"))
                       << "; resuming after event " << last << " when the coordinator is back\n"
                       << std::flush;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, options.max_backoff);
  }
}

}  // namespace fornax
