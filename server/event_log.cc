#include "server/event_log.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace fornax::server {
namespace {

constexpr int kReplayBatch = 512;
constexpr size_t kTailEvents = 256;  // per job
constexpr size_t kEndedTails = 256;  // ended jobs that keep theirs
constexpr auto kPollInterval = std::chrono::milliseconds(200);

bool IsTerminalEvent(const v1::JobEvent& event) {
  return event.has_state() && IsTerminal(event.state().state());
}

}  // namespace

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

void EventLog::Published(const std::string& job_id, const std::vector<v1::JobEvent>& events,
                         int64_t last_sequence, bool terminal) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Channel>& channel = channels_[job_id];
  if (!channel) channel = std::make_shared<Channel>();
  for (const v1::JobEvent& event : events) {
    if (!channel->tail.empty() && channel->tail.back().sequence() + 1 != event.sequence()) {
      channel->tail.clear();  // keep it contiguous
    }
    channel->tail.push_back(event);
    if (channel->tail.size() > kTailEvents) channel->tail.pop_front();
  }
  if (!channel->tail.empty() && channel->tail.back().sequence() != last_sequence) {
    channel->tail.clear();
  }
  if (terminal && !channel->terminal && !channel->tail.empty()) {
    ended_with_tail_.push_back(job_id);
    while (ended_with_tail_.size() > kEndedTails) {
      auto old = channels_.find(ended_with_tail_.front());
      if (old != channels_.end()) old->second->tail.clear();
      ended_with_tail_.pop_front();
    }
  }
  channel->last_sequence = last_sequence;
  channel->terminal = terminal;
  channel->changed.notify_all();
}

bool EventLog::FromTail(const Channel& channel, int64_t after, std::vector<v1::JobEvent>* out) {
  if (channel.tail.empty() || channel.tail.front().sequence() > after + 1) return false;
  for (const v1::JobEvent& event : channel.tail) {
    if (event.sequence() > after) out->push_back(event);
  }
  return true;
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
    // Send whatever is committed past `sent`: from the in-memory tail when
    // it reaches back that far (live watchers), else from SQLite (replay).
    // Published() runs after the commit, so what it announces is readable.
    absl::StatusOr<std::vector<v1::JobEvent>> events = std::vector<v1::JobEvent>();
    bool cached;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cached = FromTail(*channel, sent, &*events);
    }
    if (!cached) events = store_->ReadEvents(job_id, sent, kReplayBatch);
    if (!events.ok()) return events.status();
    for (const v1::JobEvent& event : *events) {
      const bool ends = !follow && IsTerminalEvent(event);
      if (!send(event)) return absl::CancelledError("watcher went away");
      sent = event.sequence();
      if (ends) return absl::OkStatus();
    }
    if (!cached && events->size() == static_cast<size_t>(kReplayBatch)) continue;

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
