// ModelRepository: the models under a directory laid out as
// `<root>/<model>/<version>/model.keras` (versions are positive integers),
// with an optional `<root>/<model>/config.json` or `config.pbtxt`
// (ModelSettings, batching_config.h).
//
// Each model serves its latest version. Poll() rescans the directory: a new
// model or a newer version is loaded (and warmed up) off to the side, then
// swapped in atomically, so requests never see a gap; a model whose
// directory is gone is unloaded. A version that fails to load (a corrupt or
// half-copied archive, a bad config) is reported in Index() with its reason
// and logged; the model keeps serving its previous version if it has one,
// and the others are unaffected. A failed file is retried once its mtime or
// size changes. Unload() takes a model out until Load() asks for it again.
// With an old-version grace set, the version a newer one replaced still
// answers requests that name its number for that long (clients pinned to it
// mid-request need not retry); requests naming no version get the newer one
// at once, and the old one is freed at the first Poll() after the grace.
// Thread-safety: all methods may be called concurrently; the scans, loads
// and unloads of one model are serialized, those of different models are
// not (a slow load never holds up another model).
#ifndef FORNAX_SERVER_INFERENCE_MODEL_REPOSITORY_H_
#define FORNAX_SERVER_INFERENCE_MODEL_REPOSITORY_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/inference/served_model.h"

namespace fornax::serving {

// One row of RepositoryIndex.
struct ModelIndexEntry {
  std::string name;
  std::string version;  // the serving version, else the one that failed
  std::string state;    // "READY" or "UNAVAILABLE"
  std::string reason;   // why it is unavailable
};

class ModelRepository {
 public:
  // Loads version `version` of the model in `model_dir`.
  using Loader = std::function<absl::StatusOr<std::shared_ptr<ServedModel>>(
      const std::string& name, int64_t version, const std::string& model_dir)>;

  ModelRepository(std::string root, Loader loader);
  ~ModelRepository();  // stops polling
  ModelRepository(const ModelRepository&) = delete;
  ModelRepository& operator=(const ModelRepository&) = delete;

  const std::string& root() const { return root_; }
  // One scan of the whole repository.
  void Poll();
  // Polls every `interval` on a thread until destruction.
  void StartPolling(std::chrono::milliseconds interval);
  // Explicit control: NotFound when `name` has no directory; Load returns the
  // load error of its latest version.
  absl::Status Load(const std::string& name);
  absl::Status Unload(const std::string& name);
  // How long a replaced version still answers requests naming it (default
  // zero: it goes at once). Applies to the swaps after the call.
  void SetOldVersionGrace(std::chrono::milliseconds grace);

  // The version serving `name` ("" or its number), or nullptr.
  std::shared_ptr<ServedModel> Find(const std::string& name, const std::string& version) const;
  std::vector<std::shared_ptr<ServedModel>> Ready() const;
  std::vector<ModelIndexEntry> Index() const;

 private:
  // What a version's files looked like when it was (or failed to be) loaded.
  struct Stamp {
    int64_t version = 0;
    std::string files;  // mtimes and sizes of model.keras and the config files
    bool operator==(const Stamp&) const = default;
  };
  struct Entry {
    std::shared_ptr<ServedModel> serving;
    Stamp serving_stamp;
    Stamp failed_stamp;  // version 0: none
    std::string reason;
    bool unloaded = false;
    // The version `serving` replaced, findable by its number until
    // `previous_until`.
    std::shared_ptr<ServedModel> previous;
    std::chrono::steady_clock::time_point previous_until;

    // Takes out every version held (serving and previous) and clears the
    // serving stamp; the caller destroys them once mu_ is released.
    std::vector<std::shared_ptr<ServedModel>> TakeVersions();
  };

  // Scans one model directory and loads what changed. REQUIRES: the
  // model's LoadMutex held.
  absl::Status Refresh(const std::string& name);
  // The mutex that serializes `name`'s scans, loads and unloads; taken
  // before mu_.
  std::mutex& LoadMutex(const std::string& name);

  const std::string root_;
  const Loader loader_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
  // One per model name ever seen, never erased (LoadMutex hands out
  // references); guarded by mu_.
  std::map<std::string, std::unique_ptr<std::mutex>> load_mu_;
  std::chrono::milliseconds old_version_grace_{0};  // guarded by mu_
  bool stopping_ = false;                           // guarded by mu_
  std::condition_variable stop_;
  std::thread poller_;
};

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_MODEL_REPOSITORY_H_
