#include "client/job_bundle.h"

#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"
#include "engine/job/job_file.h"
#include "engine/keras/models/model.h"
#include "yaml-cpp/yaml.h"

namespace fornax {
namespace {

constexpr char kModelJsonName[] = "model.json";

// Walks the job's YAML in the order ParseJobYaml reads it and rewrites each
// local path in place. yaml-cpp nodes are handles: assigning a string to one
// changes the document, assigning a node to one would re-seat it, so only
// strings are ever assigned.
class PathRewriter {
 public:
  PathRewriter(std::string source, std::string base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  absl::Status RewriteData(YAML::Node data) {
    if (!data) return absl::OkStatus();
    for (const char* split : {"train", "validation", "test"}) {
      YAML::Node node = data[split];
      if (!node) continue;
      for (const char* side : {"x", "y"}) {
        FORNAX_RETURN_IF_ERROR(RewriteSide(node[side], absl::StrCat("data.", split, ".", side)));
      }
    }
    return absl::OkStatus();
  }

  // Adds `path` (a .keras model) as an input; returns its input path.
  absl::StatusOr<std::string> AddFile(const std::string& path, const std::string& field) {
    const std::string resolved = Resolve(path);
    if (auto it = by_local_path_.find(resolved); it != by_local_path_.end()) {
      return files_[it->second].input_path;
    }
    absl::Status readable = CheckReadableFile(resolved);
    if (!readable.ok()) {
      return absl::Status(readable.code(),
                          absl::StrCat(source_, ": ", field, ": ", readable.message()));
    }
    FORNAX_ASSIGN_OR_RETURN(FileDigest digest, Sha256File(resolved));
    BundledFile file;
    file.local_path = resolved;
    file.name = std::filesystem::path(resolved).filename().string();
    file.digest = digest;
    file.input_path = absl::StrCat("inputs/", digest.sha256, "/", file.name);
    by_local_path_[resolved] = files_.size();
    files_.push_back(std::move(file));
    return files_.back().input_path;
  }

  std::vector<BundledFile> TakeFiles() { return std::move(files_); }

 private:
  absl::Status RewriteSide(YAML::Node node, const std::string& field) {
    if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) {
        FORNAX_RETURN_IF_ERROR(RewriteSource(node[i], absl::StrCat(field, "[", i, "]")));
      }
      return absl::OkStatus();
    }
    if (node.IsMap() && !node["path"]) {  // input/output name -> source
      for (auto kv : node) {
        FORNAX_RETURN_IF_ERROR(
            RewriteSource(kv.second, absl::StrCat(field, ".", kv.first.Scalar())));
      }
      return absl::OkStatus();
    }
    return RewriteSource(node, field);
  }

  absl::Status RewriteSource(YAML::Node node, const std::string& field) {
    YAML::Node path_node = node.IsMap() ? node["path"] : node;
    std::string path = path_node.Scalar();
    // "file.npz:key" selects one array of an archive; the key stays.
    std::string key_suffix;
    if (size_t colon = path.rfind(".npz:"); colon != std::string::npos) {
      key_suffix = path.substr(colon + 4);
      path.resize(colon + 4);
    }
    FORNAX_ASSIGN_OR_RETURN(std::string input_path, AddFile(path, absl::StrCat(field, ".path")));
    path_node = absl::StrCat(input_path, key_suffix);
    return absl::OkStatus();
  }

  std::string Resolve(const std::string& path) const {
    if (std::filesystem::path(path).is_absolute()) return path;
    return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
  }

  std::string source_;
  std::string base_dir_;
  std::vector<BundledFile> files_;
  std::map<std::string, size_t> by_local_path_;
};

// Emits `node` as yaml-cpp's Emitter would, except that quoted scalars stay
// quoted: the engine reads a quoted "5" as a string and a plain 5 as a
// number, and the rewritten job must mean what the user wrote.
void EmitKeepingQuotes(YAML::Emitter& out, const YAML::Node& node) {
  const bool flow = node.Style() == YAML::EmitterStyle::Flow;
  switch (node.Type()) {
    case YAML::NodeType::Map:
      if (flow) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& kv : node) {
        out << YAML::Key;
        EmitKeepingQuotes(out, kv.first);
        out << YAML::Value;
        EmitKeepingQuotes(out, kv.second);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      if (flow) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& item : node) EmitKeepingQuotes(out, item);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") out << YAML::DoubleQuoted;
      out << node.Scalar();
      break;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      break;
  }
}

absl::StatusOr<JobBundle> Bundle(const std::string& job_path) {
  // Validate first: every later step may assume a well-formed job.
  FORNAX_ASSIGN_OR_RETURN(JobSpec job, ParseJobFile(job_path));
  FORNAX_ASSIGN_OR_RETURN(std::string text, ReadFileToString(job_path));
  YAML::Node root = YAML::Load(text);
  const std::string dir = std::filesystem::path(job_path).parent_path().string();
  PathRewriter rewriter(job_path, dir.empty() ? "." : dir);
  FORNAX_RETURN_IF_ERROR(rewriter.RewriteData(root["data"]));

  JobBundle bundle;
  if (IsModelArchive(job.model_path)) {  // .keras or legacy .h5: uploaded as a file
    FORNAX_ASSIGN_OR_RETURN(std::string model_input, rewriter.AddFile(job.model_path, "model"));
    root["model"] = model_input;
  } else {
    // The worker would only find a bad model when the job runs; find it now.
    FORNAX_RETURN_IF_ERROR(Model::FromJsonFile(job.model_path).status());
    FORNAX_ASSIGN_OR_RETURN(*bundle.spec.mutable_model_json(), ReadFileToString(job.model_path));
    root["model"] = kModelJsonName;
  }
  YAML::Emitter out;
  EmitKeepingQuotes(out, root);
  bundle.spec.set_job_yaml(out.c_str());
  // The rewritten job must still be one the engine accepts.
  absl::Status reparsed = ParseJobYaml(bundle.spec.job_yaml(), "job.yaml", ".").status();
  if (!reparsed.ok()) {
    return absl::InternalError(
        absl::StrCat(job_path, ": the rewritten job does not parse: ", reparsed.message()));
  }
  bundle.files = rewriter.TakeFiles();
  for (const BundledFile& file : bundle.files) {
    v1::InputFile* input = bundle.spec.add_inputs();
    input->set_path(file.input_path);
    input->set_sha256(file.digest.sha256);
    input->set_size_bytes(file.digest.size_bytes);
  }
  return bundle;
}

}  // namespace

absl::StatusOr<JobBundle> BundleJob(const std::string& job_path) {
  // ParseJobFile has vetted the YAML; this guards against yaml-cpp throwing
  // on anything it let through.
  try {
    return Bundle(job_path);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(job_path, ": invalid job file: ", e.what()));
  }
}

}  // namespace fornax
