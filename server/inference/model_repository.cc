#include "server/inference/model_repository.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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

// Versions of a model directory: positive integer subdirectories that hold
// a model.keras.
std::vector<int64_t> Versions(const fs::path& model_dir) {
  std::vector<int64_t> versions;
  std::error_code error;
  for (const fs::directory_entry& child : fs::directory_iterator(model_dir, error)) {
    int64_t version = 0;
    if (child.is_directory(error) && absl::SimpleAtoi(child.path().filename().string(), &version) &&
        version > 0 && fs::is_regular_file(child.path() / "model.keras", error)) {
      versions.push_back(version);
    }
  }
  std::sort(versions.begin(), versions.end());
  return versions;
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
  taken.push_back(std::move(serving));
  taken.push_back(std::move(previous));
  serving_stamp = Stamp{};
  return taken;
}

std::mutex& ModelRepository::LoadMutex(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<std::mutex>& load_mu = load_mu_[name];
  if (load_mu == nullptr) load_mu = std::make_unique<std::mutex>();
  return *load_mu;
}

void ModelRepository::Poll() {
  std::set<std::string> names;
  std::error_code error;
  for (const fs::directory_entry& child : fs::directory_iterator(root_, error)) {
    if (child.is_directory(error)) names.insert(child.path().filename().string());
  }
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
      if (entry.previous != nullptr && now >= entry.previous_until) {
        expired.push_back(std::move(entry.previous));
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
  const std::vector<int64_t> versions = Versions(dir);
  // Destroyed outside mu_.
  std::shared_ptr<ServedModel> retired;
  std::vector<std::shared_ptr<ServedModel>> dropped;
  std::unique_lock<std::mutex> lock(mu_);
  Entry& entry = entries_[name];
  if (entry.unloaded) return absl::OkStatus();
  if (versions.empty()) {
    dropped = entry.TakeVersions();
    entry.reason =
        absl::StrCat("no version directory with a model.keras (", name, "/<version>/model.keras)");
    return absl::NotFoundError(absl::StrCat("model '", name, "': ", entry.reason));
  }
  const Stamp stamp{versions.back(),
                    absl::StrCat(FileStamp(dir / std::to_string(versions.back()) / "model.keras"),
                                 ConfigStamp(dir))};
  if (entry.serving != nullptr && entry.serving_stamp == stamp) return absl::OkStatus();
  if (entry.failed_stamp == stamp) {
    return absl::FailedPreconditionError(entry.reason);
  }
  lock.unlock();
  absl::StatusOr<std::shared_ptr<ServedModel>> loaded = loader_(name, stamp.version, dir.string());
  lock.lock();
  Entry& now = entries_[name];
  if (!loaded.ok()) {
    now.failed_stamp = stamp;
    now.reason = absl::StrCat("version ", stamp.version, ": ", loaded.status().message());
    std::cerr << "fornax serve: model '" << name << "' failed to load: " << now.reason
              << (now.serving ? "; still serving the previous version" : "") << "\n";
    return absl::FailedPreconditionError(absl::StrCat("model '", name, "' ", now.reason));
  }
  std::cerr << "fornax serve: model '" << name << "' version " << stamp.version << " ready\n";
  retired = std::move(now.serving);
  if (retired != nullptr && retired->version != stamp.version && old_version_grace_.count() > 0) {
    std::swap(retired, now.previous);  // the one before it, if any, goes now
    now.previous_until = std::chrono::steady_clock::now() + old_version_grace_;
  }
  now.serving = std::move(*loaded);
  now.serving_stamp = stamp;
  now.failed_stamp = Stamp{};
  now.reason.clear();
  lock.unlock();
  return absl::OkStatus();
}

absl::Status ModelRepository::Load(const std::string& name) {
  std::error_code error;
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == ".." ||
      !fs::is_directory(fs::path(root_) / name, error)) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository ", root_));
  }
  std::lock_guard<std::mutex> load_lock(LoadMutex(name));
  {
    std::lock_guard<std::mutex> lock(mu_);
    Entry& entry = entries_[name];
    entry.unloaded = false;
    entry.failed_stamp = Stamp{};  // an explicit load retries
  }
  return Refresh(name);
}

absl::Status ModelRepository::Unload(const std::string& name) {
  std::lock_guard<std::mutex> load_lock(LoadMutex(name));
  std::vector<std::shared_ptr<ServedModel>> retired;  // destroyed outside mu_
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' is not in the repository"));
  }
  retired = it->second.TakeVersions();
  it->second.unloaded = true;
  it->second.reason = "unloaded";
  std::cerr << "fornax serve: model '" << name << "' unloaded\n";
  return absl::OkStatus();
}

std::shared_ptr<ServedModel> ModelRepository::Find(const std::string& name,
                                                   const std::string& version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.serving == nullptr) return nullptr;
  const Entry& entry = it->second;
  if (version.empty() || version == std::to_string(entry.serving->version)) return entry.serving;
  if (entry.previous != nullptr && version == std::to_string(entry.previous->version) &&
      std::chrono::steady_clock::now() < entry.previous_until) {
    return entry.previous;
  }
  return nullptr;
}

void ModelRepository::SetOldVersionGrace(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(mu_);
  old_version_grace_ = grace;
}

std::vector<std::shared_ptr<ServedModel>> ModelRepository::Ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<ServedModel>> ready;
  for (const auto& [name, entry] : entries_) {
    if (entry.serving != nullptr) ready.push_back(entry.serving);
  }
  return ready;
}

std::vector<ModelIndexEntry> ModelRepository::Index() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ModelIndexEntry> index;
  for (const auto& [name, entry] : entries_) {
    if (entry.serving != nullptr) {
      index.push_back({name, std::to_string(entry.serving->version), "READY", ""});
    }
    if (entry.serving == nullptr || entry.failed_stamp.version != 0) {
      const int64_t version = entry.failed_stamp.version;
      index.push_back(
          {name, version > 0 ? std::to_string(version) : "", "UNAVAILABLE", entry.reason});
    }
  }
  return index;
}

}  // namespace fornax::serving
