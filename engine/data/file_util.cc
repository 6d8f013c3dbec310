#include "engine/data/file_util.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fornax {

absl::Status CheckReadableFile(const std::string& path) {
  std::error_code ec;
  std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  if (std::filesystem::is_directory(st)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, expected a file"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  absl::Status ok = CheckReadableFile(path);
  if (!ok.ok()) return ok;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return std::move(contents).str();
}

absl::Status WriteStringToFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot open for writing: ", std::strerror(errno)));
  }
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(path, ": write error"));
  return absl::OkStatus();
}

absl::Status CheckRelativePathInside(absl::string_view path) {
  if (path.empty()) return absl::InvalidArgumentError("is empty");
  if (path[0] == '/') return absl::InvalidArgumentError("is absolute");
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "has a control character (0x", absl::Hex(c, absl::kZeroPad2), ") at byte ", i));
    }
    if (c == '\\') {
      return absl::InvalidArgumentError(absl::StrCat("has a backslash at byte ", i));
    }
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty()) return absl::InvalidArgumentError("has an empty part ('//' or a final '/')");
    if (part == ".") return absl::InvalidArgumentError("has a '.' part");
    if (part == "..") return absl::InvalidArgumentError("has a '..' part");
  }
  return absl::OkStatus();
}

}  // namespace fornax
