// ModelRepository: the models under a directory laid out as
// `<root>/<model>/<version>/model.keras` (versions are positive integers),
// with an optional `<root>/<model>/config.json` or `config.pbtxt`
// (ModelSettings, model_settings.h) and the labels files config.pbtxt names.
//
// Each model serves the versions its version_policy selects (by default the
// latest one), each with its own batcher; a request naming no version gets
// the highest one serving. Poll() rescans the directory: a new model or a
// newly selected version is loaded (and warmed up) off to the side, then
// swapped in atomically, so requests never see a gap; versions the policy
// no longer selects go once every selected one serves (until then they
// stand in for those that failed); a model whose directory is gone is
// unloaded. A version that fails to load (a corrupt or half-copied archive,
// a bad config) is reported in Index() with its reason and logged; the
// versions serving keep serving, and the other models are unaffected. A
// failed file is retried once its mtime or size changes. The config files
// and the labels files they name are part of every version's files: a
// change to one reloads the model's versions. Unload() takes a model out
// until Load() asks for it again; whether clients may ask for either is the
// host's rule (InferenceService), never refused here. With an old-version
// grace set, a version that stopped being served still answers requests
// that name its number for that long (clients pinned to it mid-request need
// not retry); it is freed at the first Poll() after the grace.
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
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/inference/served_model.h"

namespace fornax::serving {

// One row of RepositoryIndex.
struct ModelIndexEntry {
  std::string name;
  std::string version;  // "" for the model as a whole
  // "READY", "LOADING", "UNAVAILABLE", "UNLOADING", or "" for a model never
  // loaded (Triton lists those too, with no version and no state).
  std::string state;
  std::string reason;  // why it is unavailable
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
  // load error of its latest version. Unloading a model in the repository
  // that was never loaded is a success, as in Triton.
  absl::Status Load(const std::string& name);
  absl::Status Unload(const std::string& name);
  // How long a replaced version still answers requests naming it (default
  // zero: it goes at once). Applies to the swaps after the call.
  void SetOldVersionGrace(std::chrono::milliseconds grace);

  // Version `version` of `name` ("": the highest serving), or nullptr.
  std::shared_ptr<ServedModel> Find(const std::string& name, const std::string& version) const;
  // Find, or NotFound saying why: an unknown model, one not ready (its
  // reason), or a version not served (naming those that are); Unavailable,
  // as Triton, for a version asked for that is loading, or a model none of
  // whose versions serves while some load.
  absl::StatusOr<std::shared_ptr<ServedModel>> Lookup(const std::string& name,
                                                      const std::string& version) const;
  // The versions serving `name`, ascending (none: not ready or unknown).
  std::vector<std::shared_ptr<ServedModel>> Serving(const std::string& name) const;
  // Every serving version of every model.
  std::vector<std::shared_ptr<ServedModel>> Ready() const;
  // Rows as Triton's RepositoryIndex has them, by model and version: each
  // serving version READY; each loading one (not serving yet) LOADING; each
  // failed one UNAVAILABLE with its reason; each version that served and no
  // longer does (no longer selected, replaced by a newer one, or the model
  // unloaded) UNAVAILABLE with reason "unloaded", or UNLOADING while its
  // old-version grace lasts. Versions never loaded (present, but not
  // selected) are not listed, as in Triton. A model that
  // serves nothing for a reason of its own (no version, none selected), or
  // has no row otherwise, gets a row without a version giving it. A model
  // directory never loaded (explicit mode, or placed since the last poll)
  // gets a row with only its name, as in Triton.
  std::vector<ModelIndexEntry> Index() const;

 private:
  // One version: what serves it, and the files it was loaded from ("" when
  // none), or why those files failed.
  struct Version {
    std::shared_ptr<ServedModel> serving;
    std::string serving_files;
    std::string failed_files;  // "" when the current files have not failed
    std::string reason;
    bool loading = false;  // the loader runs on its files (mu_ released)
  };
  struct Entry {
    std::map<int64_t, Version> versions;
    // Versions that served and no longer do (none of them in `versions`).
    std::set<int64_t> retired;
    // Why the model as a whole serves nothing; "" when its version rows
    // say it (an unload of served versions).
    std::string reason;
    bool unloaded = false;
    // The policy and the paths of the labels files of the config last read
    // without error (a broken config keeps them), and the stamps of the
    // config files last read ("": none read yet).
    inference::ModelVersionPolicy policy = DefaultVersionPolicy();
    std::vector<std::string> label_files;
    std::string policy_config;
    // Versions no longer served, findable by their number until the time.
    std::map<int64_t,
             std::pair<std::shared_ptr<ServedModel>, std::chrono::steady_clock::time_point>>
        previous;

    // Takes out every version held (serving and previous), the serving
    // ones becoming retired; the caller destroys them once mu_ is released.
    std::vector<std::shared_ptr<ServedModel>> TakeVersions();
    // Stops serving `version` (kept for `grace` when positive), which
    // becomes retired; what goes is added to `dropped`.
    void Retire(int64_t version, std::chrono::milliseconds grace,
                std::vector<std::shared_ptr<ServedModel>>* dropped);
    std::shared_ptr<ServedModel> Highest() const;
    // Appends the model's rows of Index() (`directory`: its name).
    void AppendIndexRows(const std::string& directory, std::chrono::steady_clock::time_point now,
                         std::vector<ModelIndexEntry>* index) const;
  };

  // Find. REQUIRES: mu_ held.
  std::shared_ptr<ServedModel> FindLocked(const std::string& name,
                                          const std::string& version) const;

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
