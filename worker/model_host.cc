#include "worker/model_host.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "server/inference/inference_service.h"
#include "worker/job_dir.h"

namespace fornax::worker {
namespace {

namespace fs = std::filesystem;
namespace v1 = fornax::v1;

constexpr char kCheckpointFile[] = "checkpoint_id";
// How long a download waits for its LOADING state to be reported.
constexpr auto kLoadingReported = std::chrono::seconds(1);

// The deployment names the coordinator accepts; they become directory names.
bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
  }
  return true;
}

bool IsDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "localhost";
  return name;
}

std::string ReadCheckpointId(const fs::path& version_dir) {
  std::ifstream in(version_dir / kCheckpointFile);
  std::string id;
  std::getline(in, id);
  return id;
}

// Deletes <dir>/<v> for every numbered version v other than `keep`.
void RemoveVersionsBut(const fs::path& dir, int64_t keep) {
  std::error_code ec;
  for (const fs::directory_entry& child : fs::directory_iterator(dir, ec)) {
    int64_t version = 0;
    if (absl::SimpleAtoi(child.path().filename().string(), &version) && version != keep) {
      fs::remove_all(child.path(), ec);
    }
  }
}

absl::Status CheckRequest(const v1::HostModel& model) {
  if (!ValidName(model.name())) {
    return absl::InvalidArgumentError(
        absl::StrCat("model name '", model.name(),
                     "' must match [A-Za-z0-9][A-Za-z0-9_.-]* (at most 64 characters)"));
  }
  if (model.version() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("version must be positive, got ", model.version()));
  }
  if (model.checkpoint_id().empty()) return absl::InvalidArgumentError("checkpoint_id is empty");
  if (!IsDigest(model.sha256())) {
    return absl::InvalidArgumentError(
        absl::StrCat("sha256 '", model.sha256(), "' is not 64 lowercase hex digits"));
  }
  return absl::OkStatus();
}

}  // namespace

ModelHost::ModelHost(ModelHostOptions options) : options_(std::move(options)) {}

ModelHost::~ModelHost() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (auto& [name, lane] : lanes_) {
      if (lane.thread.joinable()) threads.push_back(std::move(lane.thread));
    }
  }
  cv_.notify_all();
  for (std::thread& thread : threads) thread.join();
  server_.reset();
}

absl::StatusOr<std::unique_ptr<ModelHost>> ModelHost::Start(ModelHostOptions options) {
  const std::string& listen = options.listen;
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--inference-listen: expected HOST:PORT (port 0: any free one) or none, got '",
                     listen, "'"));
  }
  std::unique_ptr<ModelHost> host(new ModelHost(std::move(options)));
  const fs::path root(host->options_.models_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create ", root.string(), ": ", ec.message()));
  }
  // Downloads a previous run left half-done (<name>/.<version>.tmp).
  for (const fs::directory_entry& model : fs::directory_iterator(root, ec)) {
    std::error_code model_ec;
    for (const fs::directory_entry& child : fs::directory_iterator(model.path(), model_ec)) {
      if (absl::StartsWith(child.path().filename().string(), ".")) fs::remove_all(child, model_ec);
    }
  }
  serving::InferenceServerOptions server;
  server.model_repository = root.string();
  server.host = host->options_.listen.substr(0, colon);
  server.port = port;
  server.http_port = -1;  // deployments are reached over gRPC
  // The endpoint may listen on every interface: a client that reaches it
  // must not take a deployment down (or load a leftover) behind the
  // coordinator's back. The host itself loads and unloads in-process.
  server.refuse_model_control = serving::ModelControlRefused(
      "fornax-worker: the coordinator places this worker's models; use fornax deploy JOB "
      "--name NAME and fornax undeploy NAME");
  server.metrics_registry = host->options_.metrics_registry;
  server.server_version = host->options_.server_version;
  absl::StatusOr<std::unique_ptr<serving::InferenceServer>> started =
      serving::InferenceServer::Start(server);
  if (!started.ok()) {
    return absl::Status(started.status().code(), absl::StrCat("--inference-listen ", listen, ": ",
                                                              started.status().message()));
  }
  host->server_ = *std::move(started);
  host->server_->repository().SetOldVersionGrace(host->options_.old_version_grace);
  const bool wildcard = server.host == "0.0.0.0" || server.host == "[::]";
  host->address_ =
      absl::StrCat(wildcard ? HostName() : server.host, ":", host->server_->grpc_port());
  host->Recover();
  return host;
}

void ModelHost::Recover() {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(options_.models_dir, ec)) {
    const std::string name = entry.path().filename().string();
    std::shared_ptr<serving::ServedModel> serving = server_->repository().Find(name, "");
    if (serving == nullptr) {
      options_.log(absl::StrCat("deleting models/", name, ": it does not load"));
      std::error_code remove_ec;
      fs::remove_all(entry.path(), remove_ec);
      continue;
    }
    RemoveVersionsBut(entry.path(), serving->version);
    v1::HostedModel& hosted = hosted_[name].report;
    hosted.set_name(name);
    hosted.set_version(serving->version);
    hosted.set_checkpoint_id(ReadCheckpointId(entry.path() / std::to_string(serving->version)));
    hosted.set_state(v1::HostedModel::STATE_READY);
    options_.log(absl::StrCat("serving model ", name, " version ", serving->version));
  }
}

void ModelHost::Host(const v1::HostModel& model) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = hosted_.find(model.name());
    if (it != hosted_.end() && it->second.report.version() == model.version() &&
        it->second.report.state() != v1::HostedModel::STATE_FAILED) {
      return;  // a repeat
    }
    Entry& hosted = hosted_[model.name()];
    if (hosted.report.state() == v1::HostedModel::STATE_READY) hosted.previous = hosted.report;
    hosted.report.set_name(model.name());
    hosted.report.set_version(model.version());
    hosted.report.set_checkpoint_id(model.checkpoint_id());
    hosted.report.set_state(v1::HostedModel::STATE_LOADING);
    hosted.report.clear_reason();
    hosted.seq = ++seq_;
    EnqueueLocked(Op{model, false, hosted.seq, reads_});
  }
  cv_.notify_all();
  options_.on_change();
}

void ModelHost::Unhost(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    hosted_.erase(name);
    v1::HostModel model;
    model.set_name(name);
    EnqueueLocked(Op{model, true, ++seq_, reads_});
  }
  cv_.notify_all();
  options_.on_change();
}

std::vector<v1::HostedModel> ModelHost::Hosted() const {
  std::vector<v1::HostedModel> hosted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++reads_;
    for (const auto& [name, entry] : hosted_) {
      if (entry.previous) hosted.push_back(*entry.previous);
      hosted.push_back(entry.report);  // last: the name's latest version
    }
  }
  cv_.notify_all();
  return hosted;
}

void ModelHost::EnqueueLocked(Op op) {
  if (stopping_) return;
  // Lanes whose thread returned: it holds no lock any more, the join is short.
  for (auto it = lanes_.begin(); it != lanes_.end();) {
    if (it->second.done) {
      it->second.thread.join();
      it = lanes_.erase(it);
    } else {
      ++it;
    }
  }
  const std::string name = op.model.name();
  Lane& lane = lanes_[name];
  lane.ops.push_back(std::move(op));
  if (!lane.thread.joinable()) lane.thread = std::thread([this, name] { RunLane(name); });
}

void ModelHost::RunLane(const std::string& name) {
  std::unique_lock<std::mutex> lock(mu_);
  Lane& lane = lanes_[name];  // erased only once `done`
  while (!stopping_ && !lane.ops.empty()) {
    const Op op = std::move(lane.ops.front());
    lane.ops.pop_front();
    lock.unlock();
    if (op.unhost) {
      DoUnhost(op.model.name());
    } else {
      DoHost(op);
    }
    lock.lock();
  }
  lane.done = true;
}

bool ModelHost::WantedLocked(const Op& op) const {
  auto it = hosted_.find(op.model.name());
  return it != hosted_.end() && it->second.seq == op.seq;
}

void ModelHost::SetState(const Op& op, v1::HostedModel::State state, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = hosted_.find(op.model.name());
    if (it == hosted_.end() || it->second.seq != op.seq) return;  // superseded
    it->second.report.set_state(state);
    it->second.report.set_reason(reason);
    if (state == v1::HostedModel::STATE_READY) it->second.previous.reset();  // unloaded now
  }
  options_.on_change();
}

void ModelHost::DoHost(const Op& op) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, kLoadingReported, [&] { return stopping_ || reads_ > op.reads; });
    // A slot; a later host or unhost of the name replaces the op meanwhile.
    cv_.wait(lock, [&] { return stopping_ || !WantedLocked(op) || loads_ < options_.max_loads; });
    if (stopping_ || !WantedLocked(op)) return;
    ++loads_;
  }
  const v1::HostModel& model = op.model;
  options_.log(absl::StrCat("hosting model ", model.name(), " version ", model.version(),
                            " (checkpoint ", model.checkpoint_id(), ")"));
  absl::Status status = Install(model);
  {
    std::lock_guard<std::mutex> lock(mu_);
    --loads_;
  }
  cv_.notify_all();
  if (!status.ok()) {
    options_.log(absl::StrCat("model ", model.name(), " version ", model.version(),
                              " failed: ", status.ToString()));
    SetState(op, v1::HostedModel::STATE_FAILED, std::string(status.message()));
    return;
  }
  options_.log(absl::StrCat("model ", model.name(), " version ", model.version(), " ready"));
  SetState(op, v1::HostedModel::STATE_READY, "");
}

absl::Status ModelHost::Install(const v1::HostModel& model) {
  FORNAX_RETURN_IF_ERROR(CheckRequest(model));
  const fs::path dir = fs::path(options_.models_dir) / model.name();
  const fs::path tmp = dir / absl::StrCat(".", model.version(), ".tmp");
  const fs::path final_dir = dir / std::to_string(model.version());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create ", tmp.string(), ": ", ec.message()));
  absl::Status status =
      FetchVerified(model.sha256(), model.size_bytes(), (tmp / "model.keras").string(),
                    [&](const std::string&, const std::string& dest) {
                      return options_.fetch(model.checkpoint_id(), dest);
                    });
  if (status.ok()) {
    std::ofstream out(tmp / kCheckpointFile);
    out << model.checkpoint_id() << "\n";
    out.close();
    if (!out) status = absl::InternalError(absl::StrCat("cannot write ", tmp.string()));
  }
  if (!status.ok()) {
    fs::remove_all(tmp, ec);
    if (fs::is_empty(dir, ec)) fs::remove(dir, ec);
    return absl::Status(status.code(),
                        absl::StrCat("checkpoint ", model.checkpoint_id(), ": ", status.message()));
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("rename to ", final_dir.string(), ": ", ec.message()));
  }
  // The repository serves the highest version: a lower one replacing it
  // (the coordinator started over) needs the higher ones gone first.
  for (const fs::directory_entry& child : fs::directory_iterator(dir, ec)) {
    int64_t version = 0;
    if (absl::SimpleAtoi(child.path().filename().string(), &version) && version > model.version()) {
      fs::remove_all(child.path(), ec);
    }
  }
  // Loads now rather than at the next poll.
  status = server_->repository().Load(model.name());
  if (status.ok() &&
      server_->repository().Find(model.name(), std::to_string(model.version())) == nullptr) {
    status = absl::InternalError(absl::StrCat("version ", model.version(), " is not serving"));
  }
  if (!status.ok()) {
    // The previous version, if any, keeps serving; the broken one goes.
    fs::remove_all(final_dir, ec);
    if (fs::is_empty(dir, ec)) fs::remove(dir, ec);
    return status;
  }
  RemoveVersionsBut(dir, model.version());
  return absl::OkStatus();
}

void ModelHost::DoUnhost(const std::string& name) {
  if (!ValidName(name)) return;                      // nothing of that name was ever written
  server_->repository().Unload(name).IgnoreError();  // NotFound: it never loaded
  std::error_code ec;
  fs::remove_all(fs::path(options_.models_dir) / name, ec);
  options_.log(absl::StrCat("model ", name, " unhosted"));
}

}  // namespace fornax::worker
