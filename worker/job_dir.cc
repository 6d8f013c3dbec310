#include "worker/job_dir.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/data/sha256.h"
#include "engine/job/job_file.h"

namespace fornax::worker {
namespace fs = std::filesystem;
namespace {

bool IsDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status FetchVerified(const std::string& sha256, int64_t size_bytes, const std::string& dest,
                           const FetchFn& fetch) {
  static std::atomic<int> counter{0};
  const std::string tmp = absl::StrCat(dest, ".part-", ::getpid(), "-", counter++);
  absl::Status status = fetch(sha256, tmp);
  std::error_code ec;
  if (status.ok()) {
    absl::StatusOr<FileDigest> got = Sha256File(tmp);
    if (!got.ok()) {
      status = got.status();
    } else if (got->sha256 != sha256 || (size_bytes > 0 && got->size_bytes != size_bytes)) {
      status = absl::DataLossError(absl::StrCat("download of ", sha256, " has sha256 ", got->sha256,
                                                " and ", got->size_bytes, " bytes (expected ",
                                                size_bytes, ")"));
    } else {
      fs::rename(tmp, dest, ec);
      if (ec) status = absl::InternalError(absl::StrCat("rename to ", dest, ": ", ec.message()));
    }
  }
  if (!status.ok()) fs::remove(tmp, ec);
  return status;
}

absl::StatusOr<std::string> CachedInput(const fornax::v1::InputFile& file,
                                        const std::string& cache_dir, const FetchFn& fetch) {
  if (!IsDigest(file.sha256())) {
    return absl::InvalidArgumentError(
        absl::StrCat("input '", file.path(), "': bad sha256 '", file.sha256(), "'"));
  }
  const std::string cached = absl::StrCat(cache_dir, "/", file.sha256());
  std::error_code ec;
  if (fs::exists(cached, ec)) return cached;
  fs::create_directories(cache_dir, ec);
  FORNAX_RETURN_IF_ERROR(FetchVerified(file.sha256(), file.size_bytes(), cached, fetch));
  return cached;
}

absl::Status MaterializeJobDir(const fornax::v1::JobSpec& spec, const std::string& dir,
                               const std::string& cache_dir, const FetchFn& fetch) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  FORNAX_RETURN_IF_ERROR(WriteText(dir + "/job.yaml", spec.job_yaml()));
  if (!spec.model_json().empty()) {
    FORNAX_RETURN_IF_ERROR(WriteText(dir + "/model.json", spec.model_json()));
  }
  for (int i = 0; i < spec.inputs_size(); ++i) {
    const fornax::v1::InputFile& file = spec.inputs(i);
    // The coordinator checked too; a job it stored before it did is refused here.
    absl::Status path = CheckInputFilePath(file.path(), file.sha256());
    if (!path.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.inputs[", i, "].path: ", path.message()));
    }
    FORNAX_ASSIGN_OR_RETURN(std::string cached, CachedInput(file, cache_dir, fetch));
    const fs::path link = fs::path(dir) / file.path();
    fs::create_directories(link.parent_path(), ec);
    fs::create_hard_link(cached, link, ec);
    if (ec) {
      ec.clear();
      fs::create_symlink(fs::absolute(cached), link, ec);
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("cannot link ", cached, " to ", link.string(), ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace fornax::worker
