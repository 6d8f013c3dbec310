#include "server/event_log.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace fornax::server {
namespace {

constexpr int kReplayBatch = 512;
constexpr auto kPollInterval = std::chrono::milliseconds(200);

bool IsTerminalEvent(const v1::JobEvent& event) {
  return event.has_state() && IsTerminal(event.state().state());
}

}  // namespace

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

void EventLog::Published(const std::string& job_id, int64_t last_sequence, bool terminal) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Channel>& channel = channels_[job_id];
  if (!channel) channel = std::make_shared<Channel>();
  channel->last_sequence = last_sequence;
  channel->terminal = terminal;
  channel->changed.notify_all();
}

void EventLog::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  for (auto& [id, channel] : channels_) channel->changed.notify_all();
}

absl::Status EventLog::Watch(const std::string& job_id, int64_t after_sequence, bool follow,
                             const std::function<bool()>& cancelled,
                             const std::function<bool(const v1::JobEvent&)>& send) {
  std::shared_ptr<Channel> channel;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = channels_.find(job_id);
    if (it == channels_.end())
      return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
    channel = it->second;
  }
  int64_t sent = after_sequence;
  while (true) {
    // Replay whatever is committed past `sent`. Published() runs after the
    // commit, so anything it announces is readable here.
    absl::StatusOr<std::vector<v1::JobEvent>> events =
        store_->ReadEvents(job_id, sent, kReplayBatch);
    if (!events.ok()) return events.status();
    for (const v1::JobEvent& event : *events) {
      if (!send(event)) return absl::CancelledError("watcher went away");
      sent = event.sequence();
      if (!follow && IsTerminalEvent(event)) return absl::OkStatus();
    }
    if (events->size() == static_cast<size_t>(kReplayBatch)) continue;

    std::unique_lock<std::mutex> lock(mu_);
    while (!shutdown_ && channel->last_sequence <= sent) {
      if (!follow && channel->terminal) return absl::OkStatus();  // ended before `after`
      if (cancelled()) return absl::CancelledError("watcher went away");
      channel->changed.wait_for(lock, kPollInterval);
    }
    if (shutdown_) return absl::UnavailableError("coordinator shutting down");
  }
}

}  // namespace fornax::server
