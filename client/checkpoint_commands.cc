// `fornax checkpoints JOB`, `fornax files JOB` and `fornax pull JOB`: a
// job's checkpoints and the files it wrote, and one of them (the final model
// by default) downloaded.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/service_cli.h"
#include "engine/base/status_macros.h"
#include "engine/data/sha256.h"

namespace fornax {

const char kCheckpointsHelp[] = R"(usage: fornax [--coordinator ADDR] checkpoints JOB

Lists a job's checkpoints, oldest first: id, epochs completed, optimizer
step, size, sha256, the epoch's metrics, and which one is the final model.
)";

const char kFilesHelp[] = R"(usage: fornax [--coordinator ADDR] files JOB

Lists the files the job wrote in its directory on the worker (a CSVLogger's
filename, a ModelCheckpoint's filepath), by path: size, the attempt that
wrote it (a later attempt's file replaces an earlier one's) and sha256. They
are uploaded when an attempt's process ends by itself, succeeded or failed;
`fornax pull JOB --file PATH` downloads one.
)";

const char kPullHelp[] =
    R"(usage: fornax [--coordinator ADDR] pull JOB [-o|--output FILE] [--checkpoint ID | --file PATH]

Downloads a job's model as a Keras 3 .keras archive (keras.models.load_model
opens it; so do `fornax predict` and a job's `model:`): the final model, or
the latest checkpoint while the job runs, or --checkpoint ID. With --file
PATH, downloads a file the job wrote instead (`fornax files JOB` lists them).
The file is written next to its destination first, its sha256 checked, then
renamed into place, so FILE is never left half-written.

  -o, --output FILE   where to write it (default: JOB.keras; with --file,
                      PATH's base name)
  --checkpoint ID     that checkpoint (`fornax checkpoints JOB`)
  --file PATH         that file of the job's (`fornax files JOB`)
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

absl::Status ListFiles(ServiceClient& client, const ServiceArgs& args) {
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  v1::ListJobFilesRequest request;
  request.set_job_id(args.parsed.positional[0]);
  v1::ListJobFilesResponse response;
  FORNAX_RETURN_IF_ERROR(client.Check(client.jobs().ListJobFiles(&context, request, &response)));
  std::vector<std::vector<std::string>> rows;
  for (const v1::JobFile& file : response.files()) {
    rows.push_back({file.path(), HumanBytes(file.size_bytes()), absl::StrCat(file.attempt()),
                    file.sha256().substr(0, 12)});
  }
  PrintTable(std::cout, {"PATH", "SIZE", "ATTEMPT", "SHA256"}, rows);
  return absl::OkStatus();
}

// A download into `output`: written beside it (OUTPUT.part-PID) and hashed
// as it arrives, renamed into place by Commit() only, so `output` is never
// left half-written; the partial file is removed otherwise.
class Download {
 public:
  static absl::StatusOr<std::unique_ptr<Download>> Open(const std::string& output) {
    const std::filesystem::path destination(output);
    std::error_code error;
    if (destination.has_parent_path()) {
      std::filesystem::create_directories(destination.parent_path(), error);
      if (error) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--output: cannot create ", destination.parent_path().string(), ": ", error.message()));
      }
    }
    std::unique_ptr<Download> download(new Download(output));
    if (!download->out_) {
      return absl::InvalidArgumentError(absl::StrCat("--output: cannot write ", download->temp_));
    }
    return download;
  }
  ~Download() {
    if (!committed_) std::filesystem::remove(temp_, ignored_);
  }

  void Write(const std::string& data) {
    hash_.Update(data);
    size_ += static_cast<int64_t>(data.size());
    out_.write(data.data(), static_cast<std::streamsize>(data.size()));
  }
  // DataLoss naming `what` unless the bytes written are `sha256` and `size`.
  absl::Status Commit(const std::string& what, const std::string& sha256, int64_t size) {
    out_.close();
    if (!out_) return absl::InternalError(absl::StrCat(temp_, ": write failed"));
    digest_ = hash_.HexDigest();
    if (digest_ != sha256 || size_ != size) {
      return absl::DataLossError(absl::StrCat(what, " arrived corrupt: sha256 ", digest_, " (",
                                              size_, " bytes), the coordinator recorded ", sha256,
                                              " (", size, " bytes)"));
    }
    std::error_code error;
    std::filesystem::rename(temp_, output_, error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat("--output: cannot write ", output_, ": ", error.message()));
    }
    committed_ = true;
    return absl::OkStatus();
  }
  const std::string& digest() const { return digest_; }
  int64_t size() const { return size_; }

 private:
  explicit Download(std::string output)
      : output_(std::move(output)),
        temp_(absl::StrCat(output_, ".part-", getpid())),
        out_(temp_, std::ios::binary | std::ios::trunc) {}

  const std::string output_;
  const std::string temp_;
  std::ofstream out_;
  Sha256 hash_;
  int64_t size_ = 0;
  std::string digest_;
  bool committed_ = false;
  std::error_code ignored_;
};

absl::Status PullFile(ServiceClient& client, const std::string& job_id, const std::string& path,
                      std::string output) {
  if (output.empty()) output = std::filesystem::path(path).filename().string();
  if (output.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--file: '", path, "' names no file; give -o FILE"));
  }
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Download> download, Download::Open(output));
  grpc::ClientContext context;
  v1::DownloadJobFileRequest request;
  request.set_job_id(job_id);
  request.set_path(path);
  std::unique_ptr<grpc::ClientReader<v1::DownloadJobFileChunk>> reader =
      client.jobs().DownloadJobFile(&context, request);
  v1::DownloadJobFileChunk chunk;
  v1::JobFile file;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) file = chunk.file();
    first = false;
    download->Write(chunk.data());
  }
  FORNAX_RETURN_IF_ERROR(client.Check(reader->Finish()));
  FORNAX_RETURN_IF_ERROR(
      download->Commit(absl::StrCat("file ", file.path()), file.sha256(), file.size_bytes()));
  std::cout << "wrote " << output << ": " << job_id << " file " << file.path() << " (attempt "
            << file.attempt() << "), " << HumanBytes(download->size()) << ", sha256 "
            << download->digest() << std::endl;
  return absl::OkStatus();
}

absl::Status Pull(ServiceClient& client, const ServiceArgs& args) {
  const std::string& job_id = args.parsed.positional[0];
  auto flag = [&](const std::string& name) {
    auto it = args.parsed.values.find(name);
    return it == args.parsed.values.end() ? std::string() : it->second;
  };
  std::string output = flag("output");
  if (args.parsed.values.count("file") != 0) {
    if (args.parsed.values.count("checkpoint") != 0) {
      return absl::InvalidArgumentError("--file and --checkpoint: give one of them");
    }
    return PullFile(client, job_id, flag("file"), output);
  }
  if (output.empty()) output = absl::StrCat(job_id, ".keras");
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Download> download, Download::Open(output));

  grpc::ClientContext context;
  v1::DownloadCheckpointRequest request;
  request.set_job_id(job_id);
  request.set_checkpoint_id(flag("checkpoint"));
  std::unique_ptr<grpc::ClientReader<v1::DownloadCheckpointChunk>> reader =
      client.jobs().DownloadCheckpoint(&context, request);
  v1::DownloadCheckpointChunk chunk;
  v1::CheckpointRecord record;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first) record = chunk.record();
    first = false;
    download->Write(chunk.data());
  }
  FORNAX_RETURN_IF_ERROR(client.Check(reader->Finish()));
  FORNAX_RETURN_IF_ERROR(download->Commit(absl::StrCat("checkpoint ", record.checkpoint_id()),
                                          record.sha256(), record.size_bytes()));
  std::cout << "wrote " << output << ": checkpoint " << record.checkpoint_id()
            << (record.final() ? " (final model)" : "") << ", epoch " << record.epoch() << ", "
            << HumanBytes(download->size()) << ", sha256 " << download->digest() << std::endl;
  return absl::OkStatus();
}

}  // namespace

int RunCheckpoints(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand({"checkpoints", kCheckpointsHelp, {}, {}, 1, "fornax checkpoints JOB"},
                           coordinator, args, ListCheckpoints);
}

int RunFiles(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand({"files", kFilesHelp, {}, {}, 1, "fornax files JOB"}, coordinator, args,
                           ListFiles);
}

int RunPull(const std::string& coordinator, const std::vector<std::string>& args) {
  return RunServiceCommand({"pull",
                            kPullHelp,
                            {"output", "checkpoint", "file"},
                            {},
                            1,
                            "fornax pull JOB [-o FILE] [--checkpoint ID | --file PATH]",
                            {{"-o", "--output"}}},
                           coordinator, args, Pull);
}

}  // namespace fornax
