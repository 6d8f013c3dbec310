// Live delivery of a job's event log. The store holds the events; this
// class tells waiting watchers that new ones were committed, and runs one
// watch: replay from the store after `after_sequence`, then follow live.
//
// A watch sends every event with sequence > after_sequence exactly once, in
// order (sequences are gapless per job), and ends after the job's terminal
// state event unless `follow` is set. A watcher that reconnects with the last
// sequence it saw therefore gets no gaps and no duplicates.
// Thread-safety: all methods may be called concurrently.
#ifndef FORNAX_SERVER_EVENT_LOG_H_
#define FORNAX_SERVER_EVENT_LOG_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/store.h"

namespace fornax::server {

bool IsTerminal(v1::JobState state);

class EventLog {
 public:
  explicit EventLog(Store* store) : store_(store) {}

  // Records that `job_id`'s log now ends at `last_sequence` with `events`
  // just committed (kept in a short in-memory tail, so live watchers need
  // not read SQLite) and whether the job is in a terminal state, and wakes
  // its watchers.
  void Published(const std::string& job_id, const std::vector<v1::JobEvent>& events,
                 int64_t last_sequence, bool terminal);

  // Streams events to `send` (false: the watcher is gone) until the job ends
  // (unless follow), `cancelled()` turns true, or Shutdown(). NotFound for a
  // job never published. `cancelled` is polled at least every 200 ms.
  absl::Status Watch(const std::string& job_id, int64_t after_sequence, bool follow,
                     const std::function<bool()>& cancelled,
                     const std::function<bool(const v1::JobEvent&)>& send);

  // Ends every watch (with Unavailable) and refuses new ones.
  void Shutdown();

 private:
  // One per job; its watchers wait on `changed` (under mu_), so an event
  // wakes only the watchers of its own job.
  struct Channel {
    int64_t last_sequence = 0;
    bool terminal = false;
    std::condition_variable changed;
    std::deque<v1::JobEvent> tail;  // the latest events, contiguous, ending at last_sequence
  };
  // Copies the events after `after` from the channel's tail into *out;
  // false when the tail does not reach back that far. REQUIRES: mu_ held.
  static bool FromTail(const Channel& channel, int64_t after, std::vector<v1::JobEvent>* out);

  Store* store_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Channel>> channels_;  // guarded by mu_
  // Ended jobs whose tail is still kept, oldest first; guarded by mu_. Bounds
  // the memory of tails to the running jobs plus the last few ended ones.
  std::deque<std::string> ended_with_tail_;
  bool shutdown_ = false;  // guarded by mu_
};

}  // namespace fornax::server

#endif  // FORNAX_SERVER_EVENT_LOG_H_
