// `fornax checkpoints JOB` and `fornax pull JOB`: a job's checkpoints, and
// one of them (the final model by default) as a .keras file.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/service_cli.h"
#include "engine/data/sha256.h"
#include "engine/base/status_macros.h"

namespace fornax {

const char kCheckpointsHelp[] = R"(usage: fornax [--coordinator ADDR] checkpoints JOB

Lists a job's checkpoints, oldest first: id, epochs completed, optimizer
step, size, sha256, the epoch's metrics, and which one is the final model.
)";

const char kPullHelp[] =
    R"(usage: fornax [--coordinator ADDR] pull JOB [-o|--output FILE.keras] [--checkpoint ID]

Downloads a job's model as a Keras 3 .keras archive (keras.models.load_model
opens it; so do `fornax predict` and a job's `model:`): the final model, or
the latest checkpoint while the job runs, or --checkpoint ID. The file is
written next to its destination first, its sha256 checked, then renamed into
place, so FILE is never left half-written.

  -o, --output FILE   where to write it (default: JOB.keras)
)";

namespace {

absl::Status ListCheckpoints(ServiceClient& client, const ServiceArgs& args) {
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::ListCheckpointsRequest request;
  request.set_job_id(args.parsed.positional[0]);
  v1::ListCheckpointsResponse response;
  FORNAX_RETURN_IF_ERROR(client.Check(client.jobs().ListCheckpoints(&context, request, &response)));
  std::vector<std::vector<std::string>> rows;
  for (const v1::CheckpointRecord& ck : response.checkpoints()) {
    rows.push_back({ck.checkpoint_id(), absl::StrCat(ck.epoch()), absl::StrCat(ck.global_step()),
                    HumanBytes(ck.size_bytes()), ck.sha256().substr(0, 12),
                    ck.final() ? "final" : "", FormatMetrics(ck.metrics())});
  }
  PrintTable(std::cout, {"CHECKPOINT", "EPOCH", "STEP", "SIZE", "SHA256", "FINAL", "METRICS"},
             rows);
  return absl::OkStatus();
}

// Removes the partial file unless Keep() was called.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!kept_) std::filesystem::remove(path_, ignored_);
  }
  const std::string& path() const { return path_; }
  void Keep() { kept_ = true; }

 private:
  std::string path_;
  bool kept_ = false;
  std::error_code ignored_;
};

absl::Status Pull(ServiceClient& client, const ServiceArgs& args) {
  const std::string& job_id = args.parsed.positional[0];
  auto flag = [&](const std::string& name) {
    auto it = args.parsed.values.find(name);
    return it == args.parsed.values.end() ? std::string() : it->second;
  };
  std::string output = flag("output");
  if (output.empty()) output = absl::StrCat(job_id, ".keras");
  const std::filesystem::path destination(output);
  std::error_code error;
  if (destination.has_parent_path()) {
    std::filesystem::create_directories(destination.parent_path(), error);
    if (error) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--output: cannot create ", destination.parent_path().string(), ": ", error.message()));
    }
  }
  TempFile temp(absl::StrCat(output, ".part-", getpid()));
  std::ofstream out(temp.path(), std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::InvalidArgumentError(absl::StrCat("--output: cannot write ", temp.path()));
  }

  grpc::ClientContext context;
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job_id);
  request.set_checkpoint_id(flag("checkpoint"));
  std::unique_ptr<grpc::ClientReader<v1::DownloadCheckpointChunk>> reader =
      client.jobs().DownloadCheckpoint(&context, request);
  v1::DownloadCheckpointChunk chunk;
  v1::CheckpointRecord record;
  Sha256 hash;
  int64_t size = 0;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) record = chunk.record();
    first = false;
    hash.Update(chunk.data());
    size += static_cast<int64_t>(chunk.data().size());
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
  }
  FORNAX_RETURN_IF_ERROR(client.Check(reader->Finish()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(temp.path(), ": write failed"));
  const std::string digest = hash.HexDigest();
  if (digest != record.sha256() || size != record.size_bytes()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", record.checkpoint_id(),
                                            " arrived corrupt: sha256 ", digest, " (", size,
                                            " bytes), the coordinator recorded ", record.sha256(),
                                            " (", record.size_bytes(), " bytes)"));
  }
  std::filesystem::rename(temp.path(), destination, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("--output: cannot write ", output, ": ", error.message()));
  }
  temp.Keep();
  std::cout << "wrote " << output << ": checkpoint " << record.checkpoint_id()
            << (record.final() ? " (final model)" : "") << ", epoch " << record.epoch() << ", "
            << HumanBytes(size) << ", sha256 " << digest << std::endl;
  return absl::OkStatus();
}

}  // namespace

int RunCheckpoints(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand({"checkpoints", kCheckpointsHelp, {}, {}, 1, "fornax checkpoints JOB"},
                           coordinator, args, ListCheckpoints);
}

int RunPull(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand({"pull",
                            kPullHelp,
                            {"output", "checkpoint"},
                            {},
                            1,
                            "fornax pull JOB [-o FILE.keras] [--checkpoint ID]",
                            {{"-o", "--output"}}},
                           coordinator, args, Pull);
}

}  // namespace fornax
