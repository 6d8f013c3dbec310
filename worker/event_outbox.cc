#include "worker/event_outbox.h"

namespace fornax::worker {

int64_t JobOutbox::AddEvent(fornax::v1::WorkerEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t sequence = next_sequence_++;
  event.set_worker_sequence(sequence);
  items_.push_back({std::move(event), std::nullopt, std::nullopt});
  return sequence;
}

void JobOutbox::AddCheckpoint(CheckpointUpload upload) {
  std::lock_guard<std::mutex> lock(mu_);
  items_.push_back({std::nullopt, std::move(upload), std::nullopt});
}

void JobOutbox::AddFile(JobFileUpload upload) {
  std::lock_guard<std::mutex> lock(mu_);
  items_.push_back({std::nullopt, std::nullopt, std::move(upload)});
}

void JobOutbox::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
}

JobOutbox::Batch JobOutbox::Next(size_t max_events) const {
  std::lock_guard<std::mutex> lock(mu_);
  Batch batch;
  if (!items_.empty() && items_.front().checkpoint) {
    batch.checkpoint = items_.front().checkpoint;
    return batch;
  }
  if (!items_.empty() && items_.front().file) {
    batch.file = items_.front().file;
    return batch;
  }
  for (const Item& item : items_) {
    if (!item.event || batch.events.size() >= max_events) break;
    batch.events.push_back(*item.event);
  }
  return batch;
}

void JobOutbox::AckEvents(int64_t sequence) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!items_.empty() && items_.front().event &&
         items_.front().event->worker_sequence() <= sequence) {
    items_.pop_front();
  }
}

void JobOutbox::AckCheckpoint() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!items_.empty() && items_.front().checkpoint) items_.pop_front();
}

void JobOutbox::AckFile() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!items_.empty() && items_.front().file) items_.pop_front();
}

void JobOutbox::ReplaceResult(fornax::v1::AttemptResult result) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Item& item : items_) {
    if (item.event && item.event->has_result()) {
      *item.event->mutable_result() = std::move(result);
      return;  // an attempt has one result
    }
  }
}

bool JobOutbox::Done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_ && items_.empty();
}

size_t JobOutbox::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return items_.size();
}

}  // namespace fornax::worker
