#include "client/job_watcher.h"

#include <algorithm>
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

// A run of failed attempts at reaching the coordinator: how long to wait
// before the next one, and when to give up.
class Backoff {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Backoff(const WatchOptions& options) : options_(options) {}

  // An attempt got through: the next failure starts a new run.
  void Reset() {
    failing_ = false;
    wait_ = options_.initial_backoff;
  }
  // Whether the last attempt failed (false before a run's first Wait: one
  // notice per outage).
  bool failing() const { return failing_; }
  // After a failed attempt: false when failures have lasted give_up_after,
  // else sleeps until the next attempt and returns true.
  bool Wait() {
    const Clock::time_point now = Clock::now();
    if (!failing_) {
      failing_ = true;
      failing_since_ = now;
    }
    if (now - failing_since_ >= options_.give_up_after) return false;
    std::this_thread::sleep_for(wait_);
    wait_ = std::min(wait_ * 2, options_.max_backoff);
    return true;
  }
  int64_t failing_seconds() const {
    if (!failing_) return 0;
    return std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - failing_since_).count();
  }

 private:
  const WatchOptions& options_;
  std::chrono::milliseconds wait_ = options_.initial_backoff;
  bool failing_ = false;  // since failing_since_
  Clock::time_point failing_since_;
};

}  // namespace

bool IsFinalState(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

absl::StatusOr<v1::Job> GetJobWaiting(ServiceClient& client, const std::string& job_id,
                                      const WatchOptions& options) {
  Backoff backoff(options);
  for (;;) {
    absl::StatusOr<v1::Job> job = client.GetJob(job_id);
    if (!absl::IsUnavailable(job.status())) return job;
    if (!backoff.failing() && options.notices != nullptr) {
      *options.notices << "fornax: coordinator " << client.address() << " unavailable; retrying\n"
                       << std::flush;
    }
    if (!backoff.Wait()) {
      return absl::UnavailableError(absl::StrCat(job.status().message(), " (gave up after ",
                                                 backoff.failing_seconds(), " s of retrying)"));
    }
  }
}

absl::Status WatchJobEvents(v1::Jobs::StubInterface& stub, const std::string& job_id,
                            const WatchOptions& options,
                            const std::function<void(const v1::JobEvent&)>& on_event) {
  int64_t last = options.after_sequence;
  Backoff backoff(options);
  bool ended = false;  // the job's final state arrived
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
      if (backoff.failing() && !delivered && options.notices != nullptr) {
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
    if (!status.ok() && !IsRetryable(status.error_code())) return server::FromGrpc(status);
    // A dropped stream, or one the server closed before the job ended
    // (shutting down): come back for the rest.
    if (delivered) backoff.Reset();
    // One note per outage, not one per attempt.
    if (options.notices != nullptr && !backoff.failing()) {
      *options.notices << "fornax: event stream "
                       << (status.ok() ? std::string("closed")
                                       : absl::StrCat("lost (", status.error_message(), ")"))
                       << "; resuming after event " << last << " when the coordinator is back\n"
                       << std::flush;
    }
    if (!backoff.Wait()) {
      return absl::UnavailableError(absl::StrCat(
          "job ", job_id, ": lost the event stream for ", backoff.failing_seconds(), " s (",
          status.ok() ? "closed" : status.error_message(), "); last event ", last));
    }
  }
}

}  // namespace fornax
