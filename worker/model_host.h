// ModelHost: the models a worker serves for the coordinator's deployments.
// It owns an InferenceServer (what `fornax serve` runs) over the repository
// WORK_DIR/models, laid out as <name>/<version>/model.keras with the
// checkpoint id beside it (<name>/<version>/checkpoint_id), and registers
// its nv_inference_* metrics in the worker's Prometheus registry.
//
// Host(HostModel) and Unhost(name) return at once and run off the caller's
// thread, so a slow download never holds up the lease. Each model has its
// own thread while it has operations: those of one name run in the order
// they came (the latest Host or Unhost of a name wins), those of different
// names at once, so an unhost never waits for another model's load. A host
// downloads the checkpoint into <name>/.<version>.tmp/, checks its sha256
// and size, renames the directory to <name>/<version>/ (the repository never
// sees a partial file), loads it at once and, once it is READY, deletes the
// older versions. Until then the previous version keeps serving, and it
// still does when the new one FAILS (its directory is deleted). Each state
// change (LOADING, READY, FAILED) calls `on_change` so the worker reports it
// right away; the download waits (at most 1 s) until LOADING has been read
// for a report, so the coordinator sees LOADING before the outcome. At most
// `max_loads` downloads+loads run at once; the others wait for a slot (an
// unhost never does: it runs on its own lane, and a load still waiting when
// its name is unhosted or hosted again gives up). After a new version is
// READY the one it replaced still answers requests naming its number for
// `old_version_grace`. On start, what the repository
// loads from models/ is READY; half-written and unloadable leftovers are deleted.
// Only the coordinator places models: the endpoint refuses the protocol's
// load and unload calls (UNAVAILABLE, Triton's wording), whoever sends them.
// Thread-safety: all methods are safe to call concurrently.
#ifndef FORNAX_WORKER_MODEL_HOST_H_
#define FORNAX_WORKER_MODEL_HOST_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/registry.h"
#include "proto/fornax/v1/workers.pb.h"
#include "server/inference/inference_server.h"

namespace fornax::worker {

struct ModelHostOptions {
  std::string models_dir;
  std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 picks a free one
  std::shared_ptr<prometheus::Registry> metrics_registry;
  std::string server_version;  // ServerMetadata.version
  // All three are required.
  // Writes checkpoint `checkpoint_id` to `dest` (Workers.DownloadCheckpoint).
  std::function<absl::Status(const std::string& checkpoint_id, const std::string& dest)> fetch;
  std::function<void()> on_change;  // a hosted model's state changed
  std::function<void(const std::string&)> log;
  // Downloads+loads at once. Each holds a download's disk bandwidth and, while
  // loading, a second copy of a model's weights next to the served one; two
  // keep a redeploy of several models from thrashing the worker, and one slow
  // download from holding up all the others.
  int max_loads = 2;  // at least 1
  // How long a replaced version keeps answering requests that name it: a
  // client pinned to it (`fornax predict` mid-run, tritonclient with
  // model_version) finishes without a NOT_FOUND and a retry. 5 s covers a few
  // calls in flight; the old weights stay in memory that long (up to one
  // repository poll, 1 s, longer).
  std::chrono::milliseconds old_version_grace{5000};
};

class ModelHost {
 public:
  // InvalidArgument for a malformed listen address; Unavailable when it
  // cannot listen.
  static absl::StatusOr<std::unique_ptr<ModelHost>> Start(ModelHostOptions options);
  ~ModelHost();  // finishes the operations under way, drops the rest, stops serving

  // HOST:PORT where the models are served; a wildcard host (0.0.0.0, [::])
  // is replaced by this machine's host name.
  const std::string& address() const { return address_; }

  // A version already LOADING or READY is a no-op (the coordinator re-sends).
  void Host(const fornax::v1::HostModel& model);
  void Unhost(const std::string& name);
  // One entry per hosted name: the last version asked for, with its state;
  // and while that one is not READY, the version still served in its place
  // (READY), so a restarted coordinator keeps sending clients there.
  std::vector<fornax::v1::HostedModel> Hosted() const;

 private:
  struct Op {
    fornax::v1::HostModel model;  // only the name for an unhost
    bool unhost = false;
    uint64_t seq = 0;    // Host() calls numbered: the latest for a name wins
    uint64_t reads = 0;  // reads_ when it was asked for
  };
  struct Entry {
    fornax::v1::HostedModel report;
    uint64_t seq = 0;  // the Op that set it
    // The READY version served until `report`'s is: set while a newer one
    // loads (and after it FAILED, since the old one keeps serving).
    std::optional<fornax::v1::HostedModel> previous;
  };
  // One model's operations and the thread that runs them in order.
  struct Lane {
    std::deque<Op> ops;
    std::thread thread;  // joinable until reaped
    bool done = false;   // its thread ran out of operations and returns
  };
  explicit ModelHost(ModelHostOptions options);
  void Recover();  // READY for what the repository loaded at start
  // Queues `op` on its model's lane, starting the lane's thread if it has
  // none. REQUIRES: mu_ held.
  void EnqueueLocked(Op op);
  void RunLane(const std::string& name);
  void DoHost(const Op& op);
  // Download, check, place and load; the older versions go once it serves.
  absl::Status Install(const fornax::v1::HostModel& model);
  void DoUnhost(const std::string& name);
  // Whether `op` is still the latest Host() of its name. REQUIRES: mu_ held.
  bool WantedLocked(const Op& op) const;
  // Records the state unless `op` was superseded.
  void SetState(const Op& op, fornax::v1::HostedModel::State state, const std::string& reason);

  const ModelHostOptions options_;
  std::unique_ptr<serving::InferenceServer> server_;
  std::string address_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, Entry> hosted_;  // by name
  std::map<std::string, Lane> lanes_;    // by name
  uint64_t seq_ = 0;
  int loads_ = 0;  // downloads+loads under way
  // Calls of Hosted() (each one a report to the coordinator) so far.
  mutable uint64_t reads_ = 0;
  bool stopping_ = false;
};

}  // namespace fornax::worker

#endif  // FORNAX_WORKER_MODEL_HOST_H_
