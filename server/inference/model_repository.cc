#include "server/inference/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/inference/utf8.h"

namespace fornax::serving {
namespace fs = std::filesystem;
namespace {

// mtime and size of `path`, or "-" when it does not exist.
std::string FileStamp(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error) return "-";
  const auto mtime = fs::last_write_time(path, error);
  if (error) return "-";
  return absl::StrCat(mtime.time_since_epoch().count(), "/", size);
}

// The stamps of the model's config files (config.json, config.pbtxt).
std::string ConfigStamp(const fs::path& model_dir) {
  std::string stamp;
  for (const char* file : kModelConfigFiles)
    absl::StrAppend(&stamp, " ", FileStamp(model_dir / file));
  return stamp;
}

// `text` as a version number: plain decimal digits, no sign, space or
// leading zero (as the loader names the directory, std::to_string), and
// positive; 0 otherwise. Checked in place: it runs on every request.
int64_t ParseVersion(std::string_view text) {
  if (text.empty() || text.size() > 18 || text[0] == '0') return 0;
  int64_t number = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    number = number * 10 + (c - '0');
  }
  return number;
}

// Versions of a model directory: positive integer subdirectories that hold
// a model.keras.
std::vector<int64_t> Versions(const fs::path& model_dir) {
  std::vector<int64_t> versions;
  std::error_code error;
  for (const fs::directory_entry& child : fs::directory_iterator(model_dir, error)) {
    const int64_t version = ParseVersion(child.path().filename().string());
    if (version > 0 && child.is_directory(error) &&
        fs::is_regular_file(child.path() / "model.keras", error)) {
      versions.push_back(version);
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
}

// Whether `root` has a model directory `name` (one path component).
bool HasModelDirectory(const std::string& root, const std::string& name) {
  std::error_code error;
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != ".." &&
         fs::is_directory(fs::path(root) / name, error);
}

// The model directories under `root`, by name.
std::set<std::string> ModelDirectories(const std::string& root) {
  std::set<std::string> names;
  std::error_code error;
  for (const fs::directory_entry& child : fs::directory_iterator(root, error)) {
    if (child.is_directory(error)) names.insert(child.path().filename().string());
  }
  return names;
}

}  // namespace

ModelRepository::ModelRepository(std::string root, Loader loader)
    : root_(std::move(root)), loader_(std::move(loader)) {}

ModelRepository::~ModelRepository() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void ModelRepository::StartPolling(std::chrono::milliseconds interval) {
  poller_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      Poll();
      lock.lock();
    }
  });
}

std::vector<std::shared_ptr<ServedModel>> ModelRepository::Entry::TakeVersions() {
  std::vector<std::shared_ptr<ServedModel>> taken;
  for (auto& [number, version] : versions) {
    if (version.serving != nullptr) retired.insert(number);
    taken.push_back(std::move(version.serving));
  }
  for (auto& [number, held] : previous) taken.push_back(std::move(held.first));
  versions.clear();
  previous.clear();
  return taken;
}

void ModelRepository::Entry::Retire(int64_t number, std::chrono::milliseconds grace,
                                    std::vector<std::shared_ptr<ServedModel>>* dropped) {
  auto it = versions.find(number);
  if (it == versions.end()) return;
  std::shared_ptr<ServedModel> model = std::move(it->second.serving);
  versions.erase(it);
  if (model != nullptr) retired.insert(number);
  if (model == nullptr || grace.count() <= 0) {
    dropped->push_back(std::move(model));
    return;
  }
  auto& held = previous[number];
  dropped->push_back(std::move(held.first));
  held = {std::move(model), std::chrono::steady_clock::now() + grace};
}

std::shared_ptr<ServedModel> ModelRepository::Entry::Highest() const {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->second.serving != nullptr) return it->second.serving;
  }
  return nullptr;
}

std::mutex& ModelRepository::LoadMutex(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<std::mutex>& load_mu = load_mu_[name];
  if (load_mu == nullptr) load_mu = std::make_unique<std::mutex>();
  return *load_mu;
}

void ModelRepository::Poll() {
  const std::set<std::string> names = ModelDirectories(root_);
  std::error_code error;
  for (const std::string& name : names) {
    std::lock_guard<std::mutex> load_lock(LoadMutex(name));
    Refresh(name).IgnoreError();  // recorded in entries_
  }
  std::vector<std::string> gone;
  std::vector<std::shared_ptr<ServedModel>> expired;  // destroyed outside mu_
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    for (auto& [name, entry] : entries_) {
      if (names.count(name) == 0) gone.push_back(name);
      for (auto it = entry.previous.begin(); it != entry.previous.end();) {
        if (now < it->second.second) {
          ++it;
          continue;
        }
        expired.push_back(std::move(it->second.first));
        it = entry.previous.erase(it);
      }
    }
  }
  for (const std::string& name : gone) {
    std::lock_guard<std::mutex> load_lock(LoadMutex(name));
    std::vector<std::shared_ptr<ServedModel>> removed;  // destroyed outside mu_
    std::lock_guard<std::mutex> lock(mu_);
    // A Load() since the scan may have found it (its directory just placed).
    auto it = entries_.find(name);
    if (it == entries_.end() || fs::is_directory(fs::path(root_) / name, error)) continue;
    std::cerr << "fornax serve: model '" << name << "' removed from the repository\n";
    removed = it->second.TakeVersions();
    entries_.erase(it);
  }
}

absl::Status ModelRepository::Refresh(const std::string& name) {
  const fs::path dir = fs::path(root_) / name;
  const std::vector<int64_t> available = Versions(dir);
  // Before the read below, so a change after it is read again next time.
  const std::string config = ConfigStamp(dir);
  std::vector<std::shared_ptr<ServedModel>> dropped;  // destroyed outside mu_
  std::unique_lock<std::mutex> lock(mu_);
  // Stays valid while mu_ is released: only holders of the model's
  // LoadMutex (the caller) add or erase its entry.
  Entry& entry = entries_[name];
  if (entry.unloaded) return absl::OkStatus();
  if (entry.policy_config != config) {
    // Read here for the policy only, and only when the files changed (not
    // on every poll); a broken config fails each version's load below (the
    // loader reads it too), which keeps what serves serving.
    lock.unlock();
    absl::StatusOr<ModelSettings> settings = ReadModelSettings(dir.string());
    lock.lock();
    if (settings.ok()) {
      entry.policy = settings->version_policy;
      entry.label_files.clear();
      for (const LabelFile& file : settings->label_files) entry.label_files.push_back(file.path);
    }
    entry.policy_config = config;
  }
  // The labels files count as config; stamped before the loader reads them.
  std::string config_files = config;
  for (const std::string& path : entry.label_files) {
    absl::StrAppend(&config_files, " ", FileStamp(path));
  }
  const std::vector<int64_t> wanted = SelectVersions(entry.policy, available);
  if (wanted.empty()) {
    dropped = entry.TakeVersions();
    entry.reason = Utf8Safe(
        available.empty() ? absl::StrCat("no version directory with a model.keras (", name,
                                         "/<version>/model.keras)")
                          : absl::StrCat("version_policy selects none of the versions present (",
                                         absl::StrJoin(available, ", "), ")"));
    return absl::NotFoundError(absl::StrCat("model '", name, "': ", entry.reason));
  }
  const auto selected = [&wanted](int64_t number) {
    return std::find(wanted.begin(), wanted.end(), number) != wanted.end();
  };
  std::erase_if(entry.versions, [&](const auto& version) {
    return version.second.serving == nullptr && !selected(version.first);  // an old failure
  });
  // Cleared before the loads, which release mu_: the rows of the versions
  // say the model's state from here on (an "unloaded" is stale).
  entry.reason.clear();
  absl::Status first_error;
  for (int64_t number : wanted) {
    const std::string files =
        absl::StrCat(FileStamp(dir / std::to_string(number) / "model.keras"), config_files);
    Version& version = entry.versions[number];
    entry.retired.erase(number);  // its row is this version's now
    if (version.serving != nullptr && version.serving_files == files) continue;
    if (version.failed_files != files) {
      version.loading = true;
      lock.unlock();
      absl::StatusOr<std::shared_ptr<ServedModel>> loaded = loader_(name, number, dir.string());
      lock.lock();
      version.loading = false;
      if (loaded.ok()) {
        std::cerr << "fornax serve: model '" << name << "' version " << number << " ready\n";
        dropped.push_back(std::move(version.serving));  // reloaded in place: it goes at once
        version = Version{*std::move(loaded), files, "", ""};
        continue;
      }
      version.failed_files = files;
      version.reason = Utf8Safe(absl::StrCat("version ", number, ": ", loaded.status().message()));
      std::cerr << "fornax serve: model '" << name << "' failed to load: " << version.reason
                << (entry.Highest() ? "; the versions serving keep serving" : "") << "\n";
    }
    first_error.Update(
        absl::FailedPreconditionError(absl::StrCat("model '", name, "' ", version.reason)));
  }
  // Versions no longer selected go once every selected one serves; until
  // then they stand in for those that failed.
  if (std::all_of(wanted.begin(), wanted.end(),
                  [&](int64_t number) { return entry.versions[number].serving != nullptr; })) {
    std::vector<int64_t> unselected;
    for (const auto& [number, version] : entry.versions) {
      if (!selected(number)) unselected.push_back(number);
    }
    for (int64_t number : unselected) entry.Retire(number, old_version_grace_, &dropped);
  }
  lock.unlock();
  return first_error;
}

absl::Status ModelRepository::Load(const std::string& name) {
  if (!HasModelDirectory(root_, name)) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository ", root_));
  }
  std::lock_guard<std::mutex> load_lock(LoadMutex(name));
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[name];
    entry.unloaded = false;
    for (auto& [number, version] : entry.versions) version.failed_files.clear();  // retried
  }
  return Refresh(name);
}

absl::Status ModelRepository::Unload(const std::string& name) {
  std::lock_guard<std::mutex> load_lock(LoadMutex(name));
  const bool present = HasModelDirectory(root_, name);  // before mu_: a stat
  std::vector<std::shared_ptr<ServedModel>> retired;    // destroyed outside mu_
  std::lock_guard<std::mutex> lock(mu_);
  // A model present but never loaded gets an entry, so that polling leaves
  // it out too.
  if (entries_.count(name) == 0 && !present) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository"));
  }
  Entry& entry = entries_[name];
  retired = entry.TakeVersions();
  entry.unloaded = true;
  // Triton reports each version that served as "unloaded"; a model none of
  // whose versions served gets that as its own row.
  entry.reason = entry.retired.empty() ? "unloaded" : "";
  std::cerr << "fornax serve: model '" << name << "' unloaded\n";
  return absl::OkStatus();
}

std::shared_ptr<ServedModel> ModelRepository::Find(const std::string& name,
                                                   const std::string& version) const {
  std::lock_guard<std::mutex> lock(mu_);
  return FindLocked(name, version);
}

std::shared_ptr<ServedModel> ModelRepository::FindLocked(const std::string& name,
                                                         const std::string& version) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return nullptr;
  const Entry& entry = it->second;
  if (version.empty()) return entry.Highest();
  const int64_t number = ParseVersion(version);
  if (number == 0) return nullptr;
  auto serving = entry.versions.find(number);
  if (serving != entry.versions.end() && serving->second.serving != nullptr) {
    return serving->second.serving;
  }
  auto previous = entry.previous.find(number);
  if (previous != entry.previous.end() &&
      std::chrono::steady_clock::now() < previous->second.second) {
    return previous->second.first;
  }
  return nullptr;
}

absl::StatusOr<std::shared_ptr<ServedModel>> ModelRepository::Lookup(
    const std::string& name, const std::string& version) const {
  // One critical section, so that the reason given is the state the
  // lookup saw.
  std::unique_lock<std::mutex> lock(mu_);
  std::shared_ptr<ServedModel> model = FindLocked(name, version);
  if (model != nullptr) return model;
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    lock.unlock();
    if (HasModelDirectory(root_, name)) {
      // Explicit model control, or placed since the last poll.
      return absl::NotFoundError(absl::StrCat("model '", name, "' is not loaded"));
    }
    return absl::NotFoundError(
        absl::StrCat("unknown model '", name, "' (not in the repository ", root_, ")"));
  }
  const Entry& entry = it->second;
  std::vector<int64_t> serving;
  std::vector<int64_t> loading;
  for (const auto& [number, held] : entry.versions) {
    if (held.serving != nullptr) serving.push_back(number);
    if (held.serving == nullptr && held.loading) loading.push_back(number);
  }
  // Transient, so UNAVAILABLE (clients retry), as Triton answers a version
  // not ready yet; the version asked for, else every one loading when none
  // serves.
  const int64_t number = ParseVersion(version);
  const bool asked_loading = std::find(loading.begin(), loading.end(), number) != loading.end();
  if (asked_loading || (serving.empty() && !loading.empty())) {
    if (asked_loading) loading = {number};
    const bool one = loading.size() == 1;
    return absl::UnavailableError(absl::StrCat("model '", name, "' version", one ? " " : "s ",
                                               absl::StrJoin(loading, ", "),
                                               one ? " is loading" : " are loading"));
  }
  if (!serving.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "model '", name, "' version '", version, "' is not served; the serving version",
        serving.size() == 1 ? " is " : "s are ", absl::StrJoin(serving, ", ")));
  }
  // The model's first index row says why (there is always one).
  std::vector<ModelIndexEntry> rows;
  entry.AppendIndexRows(name, std::chrono::steady_clock::now(), &rows);
  return absl::NotFoundError(
      absl::StrCat("model '", name, "' is not ready: ", rows.front().reason));
}

std::vector<std::shared_ptr<ServedModel>> ModelRepository::Serving(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<ServedModel>> serving;
  auto it = entries_.find(name);
  if (it == entries_.end()) return serving;
  for (const auto& [number, version] : it->second.versions) {
    if (version.serving != nullptr) serving.push_back(version.serving);
  }
  return serving;
}

void ModelRepository::SetOldVersionGrace(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(mu_);
  old_version_grace_ = grace;
}

std::vector<std::shared_ptr<ServedModel>> ModelRepository::Ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<ServedModel>> ready;
  for (const auto& [name, entry] : entries_) {
    for (const auto& [number, version] : entry.versions) {
      if (version.serving != nullptr) ready.push_back(version.serving);
    }
  }
  return ready;
}

void ModelRepository::Entry::AppendIndexRows(const std::string& directory,
                                             std::chrono::steady_clock::time_point now,
                                             std::vector<ModelIndexEntry>* index) const {
  const std::string name = Utf8Safe(directory);
  const size_t first = index->size();
  std::set<int64_t> numbers = retired;
  for (const auto& [number, version] : versions) numbers.insert(number);
  for (int64_t number : numbers) {
    const std::string v = std::to_string(number);
    auto it = versions.find(number);
    if (it == versions.end()) {
      auto held = previous.find(number);
      const bool in_grace = held != previous.end() && now < held->second.second;
      index->push_back(
          {name, v, in_grace ? "UNLOADING" : "UNAVAILABLE", in_grace ? "" : "unloaded"});
      continue;
    }
    const Version& held = it->second;
    if (held.serving != nullptr) index->push_back({name, v, "READY", ""});
    // A reload in place keeps serving (READY); an older failure is stale.
    if (held.loading) {
      if (held.serving == nullptr) index->push_back({name, v, "LOADING", ""});
    } else if (!held.failed_files.empty()) {
      index->push_back({name, v, "UNAVAILABLE", held.reason});
    }
  }
  if (!reason.empty() || index->size() == first) {
    index->insert(index->begin() + static_cast<std::ptrdiff_t>(first),
                  {name, "", "UNAVAILABLE", reason});
  }
}

std::vector<ModelIndexEntry> ModelRepository::Index() const {
  std::set<std::string> never_loaded = ModelDirectories(root_);  // before mu_: a scan
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  std::vector<ModelIndexEntry> index;
  for (const auto& [directory, entry] : entries_) {
    entry.AppendIndexRows(directory, now, &index);
    never_loaded.erase(directory);
  }
  for (const std::string& directory : never_loaded) {
    index.push_back({Utf8Safe(directory), "", "", ""});
  }
  // By name, as Triton lists them.
  std::stable_sort(
      index.begin(), index.end(),
      [](const ModelIndexEntry& a, const ModelIndexEntry& b) { return a.name < b.name; });
  return index;
}

}  // namespace fornax::serving
