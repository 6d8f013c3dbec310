#include "engine/job/job_file.h"

#include <filesystem>
#include <initializer_list>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"
#include "engine/job/yaml_json.h"
#include "yaml-cpp/yaml.h"

namespace fornax {
namespace {

// Reads typed fields out of YAML nodes; every error names the file and the
// field path and shows what it got.
class FieldReader {
 public:
  FieldReader(std::string source, std::string base_dir)
      : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  const std::string& source() const { return source_; }

  absl::Status Error(const std::string& field, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", field, ": ", what));
  }
  absl::Status Expected(const std::string& field, const std::string& what,
                        const YAML::Node& got) const {
    return Error(field, absl::StrCat("expected ", what, ", got '", YamlForMessage(got), "'"));
  }

  absl::Status CheckMap(const YAML::Node& node, const std::string& field,
                        std::initializer_list<const char*> allowed) const {
    if (!node.IsMap()) return Expected(field, "a map", node);
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : YamlForMessage(kv.first);
      bool known = false;
      for (const char* a : allowed) known = known || key == a;
      if (!known) {
        return Error(field.empty() ? key : absl::StrCat(field, ".", key),
                     absl::StrCat("unknown field; expected one of ", absl::StrJoin(allowed, ", ")));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> Int(const YAML::Node& node, const std::string& field, int64_t min,
                              const std::string& what) const {
    int64_t v;
    if (!node.IsScalar() || node.Tag() == "!" || !absl::SimpleAtoi(node.Scalar(), &v) || v < min) {
      return Expected(field, what, node);
    }
    return v;
  }
  absl::StatusOr<int64_t> PositiveInt(const YAML::Node& node, const std::string& field) const {
    return Int(node, field, 1, "a positive integer");
  }

  absl::StatusOr<double> Number(const YAML::Node& node, const std::string& field) const {
    if (node.IsScalar() && node.Tag() != "!") {
      nlohmann::json j = PlainScalarToJson(node.Scalar());
      if (j.is_number()) return j.get<double>();
    }
    return Expected(field, "a number", node);
  }

  absl::StatusOr<bool> Bool(const YAML::Node& node, const std::string& field) const {
    if (node.IsScalar() && node.Tag() != "!") {
      nlohmann::json j = PlainScalarToJson(node.Scalar());
      if (j.is_boolean()) return j.get<bool>();
    }
    return Expected(field, "true or false", node);
  }

  absl::StatusOr<std::string> String(const YAML::Node& node, const std::string& field) const {
    if (!node.IsScalar() || node.Scalar().empty()) return Expected(field, "a string", node);
    return node.Scalar();
  }

  absl::StatusOr<nlohmann::json> Json(const YAML::Node& node, const std::string& field) const {
    return YamlToJson(node, source_, field);
  }

  std::string Resolve(const std::string& path) const {
    if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
    return (std::filesystem::path(base_dir_) / path).lexically_normal().string();
  }

 private:
  std::string source_;
  std::string base_dir_;
};

// `from_archive`: the model is a .keras or legacy .h5 whose compile_config
// supplies what the section leaves out, so even loss is optional.
absl::Status ParseCompile(const FieldReader& r, const YAML::Node& node, bool from_archive,
                          JobSpec* job) {
  FORNAX_RETURN_IF_ERROR(r.CheckMap(
      node, "compile", {"optimizer", "loss", "loss_weights", "metrics", "steps_per_execution"}));
  for (const char* key : {"optimizer", "loss", "loss_weights", "metrics", "steps_per_execution"}) {
    if (node[key]) job->compile_keys.push_back(key);
  }
  CompileConfig* out = &job->compile;
  if (node["optimizer"]) {
    const YAML::Node& opt = node["optimizer"];
    if (!(opt.IsScalar() || (opt.IsMap() && opt["class_name"]))) {
      return r.Expected("compile.optimizer",
                        "an optimizer name (\"adam\") or {class_name: ..., config: {...}}", opt);
    }
    FORNAX_ASSIGN_OR_RETURN(out->optimizer, r.Json(opt, "compile.optimizer"));
  }
  if (!node["loss"] && !from_archive) {
    return r.Error("compile.loss", "required (e.g. loss: mean_squared_error)");
  }
  if (node["loss"]) {
    FORNAX_ASSIGN_OR_RETURN(out->loss, r.Json(node["loss"], "compile.loss"));
    if (out->loss.is_null()) return r.Error("compile.loss", "required, got an empty value");
  }
  if (node["loss_weights"]) {
    FORNAX_ASSIGN_OR_RETURN(out->loss_weights,
                            r.Json(node["loss_weights"], "compile.loss_weights"));
  }
  if (node["metrics"]) {
    FORNAX_ASSIGN_OR_RETURN(out->metrics, r.Json(node["metrics"], "compile.metrics"));
  }
  if (node["steps_per_execution"]) {
    FORNAX_ASSIGN_OR_RETURN(out->steps_per_execution, r.PositiveInt(node["steps_per_execution"],
                                                                    "compile.steps_per_execution"));
  }
  return absl::OkStatus();
}

absl::Status ParseCallbacks(const FieldReader& r, const YAML::Node& node,
                            std::vector<nlohmann::json>* out) {
  if (!node.IsSequence()) return r.Expected("fit.callbacks", "a list of callbacks", node);
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string field = absl::StrCat("fit.callbacks[", i, "]");
    const YAML::Node& cb = node[i];
    if (cb.IsScalar()) {
      out->push_back({{"class_name", cb.Scalar()}, {"config", nlohmann::json::object()}});
      continue;
    }
    if (cb.IsMap() && cb.size() == 1 && !cb["class_name"] && !cb["config"]) {
      // The short form {EarlyStopping: {patience: 2}}.
      const std::string name = cb.begin()->first.Scalar();
      FORNAX_ASSIGN_OR_RETURN(nlohmann::json config,
                              r.Json(cb.begin()->second, absl::StrCat(field, ".", name)));
      if (config.is_null()) config = nlohmann::json::object();
      out->push_back({{"class_name", name}, {"config", std::move(config)}});
      continue;
    }
    FORNAX_RETURN_IF_ERROR(r.CheckMap(cb, field, {"class_name", "config"}));
    if (!cb["class_name"]) return r.Error(field, "missing class_name (e.g. EarlyStopping)");
    FORNAX_ASSIGN_OR_RETURN(nlohmann::json j, r.Json(cb, field));
    if (!j.contains("config") || j["config"].is_null()) j["config"] = nlohmann::json::object();
    out->push_back(std::move(j));
  }
  return absl::OkStatus();
}

absl::Status ParseFit(const FieldReader& r, const YAML::Node& node, JobSpec* job) {
  FORNAX_RETURN_IF_ERROR(r.CheckMap(node, "fit",
                                    {"epochs", "batch_size", "shuffle", "validation_split", "seed",
                                     "callbacks", "initial_epoch"}));
  FitConfig& fit = job->fit;
  if (node["epochs"]) {
    FORNAX_ASSIGN_OR_RETURN(int64_t epochs, r.PositiveInt(node["epochs"], "fit.epochs"));
    fit.epochs = static_cast<int>(epochs);
  }
  if (node["initial_epoch"]) {
    FORNAX_ASSIGN_OR_RETURN(int64_t initial, r.Int(node["initial_epoch"], "fit.initial_epoch", 0,
                                                   "a non-negative integer"));
    if (initial >= fit.epochs) {
      return r.Error("fit.initial_epoch", absl::StrCat("must be less than fit.epochs (", fit.epochs,
                                                       "), got ", initial));
    }
    fit.initial_epoch = static_cast<int>(initial);
  }
  if (node["batch_size"]) {
    FORNAX_ASSIGN_OR_RETURN(fit.batch_size, r.PositiveInt(node["batch_size"], "fit.batch_size"));
  }
  if (node["shuffle"]) {
    FORNAX_ASSIGN_OR_RETURN(fit.shuffle, r.Bool(node["shuffle"], "fit.shuffle"));
  }
  if (node["validation_split"]) {
    FORNAX_ASSIGN_OR_RETURN(fit.validation_split,
                            r.Number(node["validation_split"], "fit.validation_split"));
    if (!(fit.validation_split >= 0.0 && fit.validation_split < 1.0)) {
      return r.Expected("fit.validation_split", "a number in [0, 1)", node["validation_split"]);
    }
  }
  if (node["seed"]) {
    FORNAX_ASSIGN_OR_RETURN(int64_t seed,
                            r.Int(node["seed"], "fit.seed", 0, "a non-negative integer"));
    job->seed = static_cast<uint64_t>(seed);
  }
  if (node["callbacks"])
    FORNAX_RETURN_IF_ERROR(ParseCallbacks(r, node["callbacks"], &job->callbacks));
  return absl::OkStatus();
}

absl::StatusOr<DataSource> ParseSource(const FieldReader& r, const YAML::Node& node,
                                       const std::string& field) {
  DataSource src;
  src.field = field;
  if (node.IsMap()) {
    FORNAX_RETURN_IF_ERROR(
        r.CheckMap(node, field, {"path", "key", "limit", "dtype", "scale", "offset", "reshape"}));
  }
  // Never assign one YAML::Node to another: yaml-cpp would rewrite the document.
  const YAML::Node path_node = node.IsMap() ? node["path"] : node;
  FORNAX_ASSIGN_OR_RETURN(std::string path, r.String(path_node, absl::StrCat(field, ".path")));
  // "file.npz:key" selects one array of an archive.
  size_t colon = path.rfind(".npz:");
  if (colon != std::string::npos) {
    src.npz_key = path.substr(colon + 5);
    path.resize(colon + 4);
  }
  src.path = r.Resolve(path);
  if (!node.IsMap()) return src;

  if (node["key"]) {
    FORNAX_ASSIGN_OR_RETURN(src.npz_key, r.String(node["key"], absl::StrCat(field, ".key")));
  }
  if (node["limit"]) {
    FORNAX_ASSIGN_OR_RETURN(src.limit, r.PositiveInt(node["limit"], absl::StrCat(field, ".limit")));
  }
  if (node["dtype"]) {
    FORNAX_ASSIGN_OR_RETURN(std::string name,
                            r.String(node["dtype"], absl::StrCat(field, ".dtype")));
    absl::StatusOr<DType> dtype = ParseDType(name);
    if (!dtype.ok())
      return r.Error(absl::StrCat(field, ".dtype"), std::string(dtype.status().message()));
    src.dtype = *dtype;
  }
  if (node["scale"]) {
    FORNAX_ASSIGN_OR_RETURN(src.scale, r.Number(node["scale"], absl::StrCat(field, ".scale")));
  }
  if (node["offset"]) {
    FORNAX_ASSIGN_OR_RETURN(src.offset, r.Number(node["offset"], absl::StrCat(field, ".offset")));
  }
  if (node["reshape"]) {
    const YAML::Node& shape = node["reshape"];
    const std::string shape_field = absl::StrCat(field, ".reshape");
    if (!shape.IsSequence()) {
      return r.Expected(shape_field, "a list of dimensions (e.g. [28, 28, 1])", shape);
    }
    std::vector<int64_t> dims;
    int inferred = 0;
    for (size_t i = 0; i < shape.size(); ++i) {
      FORNAX_ASSIGN_OR_RETURN(int64_t d, r.Int(shape[i], absl::StrCat(shape_field, "[", i, "]"), -1,
                                               "a positive integer or -1"));
      if (d == 0)
        return r.Expected(absl::StrCat(shape_field, "[", i, "]"), "a positive integer or -1",
                          shape[i]);
      if (d == -1 && ++inferred > 1) return r.Error(shape_field, "at most one dimension may be -1");
      dims.push_back(d);
    }
    src.reshape = std::move(dims);
  }
  return src;
}

absl::StatusOr<DataSide> ParseSide(const FieldReader& r, const YAML::Node& node,
                                   const std::string& field) {
  DataSide side;
  if (!node) return r.Error(field, "required");
  if (node.IsSequence()) {
    if (node.size() == 0) return r.Expected(field, "at least one source", node);
    for (size_t i = 0; i < node.size(); ++i) {
      FORNAX_ASSIGN_OR_RETURN(DataSource s,
                              ParseSource(r, node[i], absl::StrCat(field, "[", i, "]")));
      side.sources.emplace_back("", std::move(s));
    }
    return side;
  }
  if (node.IsMap() && !node["path"]) {  // input/output name -> source
    if (node.size() == 0) return r.Expected(field, "a path or a map of sources", node);
    side.by_name = true;
    for (const auto& kv : node) {
      const std::string name = kv.first.Scalar();
      FORNAX_ASSIGN_OR_RETURN(DataSource s,
                              ParseSource(r, kv.second, absl::StrCat(field, ".", name)));
      side.sources.emplace_back(name, std::move(s));
    }
    return side;
  }
  FORNAX_ASSIGN_OR_RETURN(DataSource s, ParseSource(r, node, field));
  side.sources.emplace_back("", std::move(s));
  return side;
}

absl::StatusOr<DataSplit> ParseSplit(const FieldReader& r, const YAML::Node& node,
                                     const std::string& field) {
  FORNAX_RETURN_IF_ERROR(r.CheckMap(node, field, {"x", "y", "limit"}));
  DataSplit split;
  FORNAX_ASSIGN_OR_RETURN(split.x, ParseSide(r, node["x"], absl::StrCat(field, ".x")));
  FORNAX_ASSIGN_OR_RETURN(split.y, ParseSide(r, node["y"], absl::StrCat(field, ".y")));
  if (node["limit"]) {
    FORNAX_ASSIGN_OR_RETURN(int64_t limit,
                            r.PositiveInt(node["limit"], absl::StrCat(field, ".limit")));
    for (DataSide* side : {&split.x, &split.y}) {
      for (auto& [name, src] : side->sources) {
        if (!src.limit) src.limit = limit;
      }
    }
  }
  return split;
}

absl::Status ParseData(const FieldReader& r, const YAML::Node& node, JobSpec* job) {
  FORNAX_RETURN_IF_ERROR(r.CheckMap(node, "data", {"train", "validation", "test"}));
  if (node["train"]) {
    FORNAX_ASSIGN_OR_RETURN(job->train, ParseSplit(r, node["train"], "data.train"));
  }
  if (node["validation"]) {
    if (job->fit.validation_split > 0) {
      return r.Error("data.validation",
                     "set either data.validation or fit.validation_split, not both");
    }
    FORNAX_ASSIGN_OR_RETURN(job->validation, ParseSplit(r, node["validation"], "data.validation"));
  }
  if (node["test"]) {
    FORNAX_ASSIGN_OR_RETURN(job->test, ParseSplit(r, node["test"], "data.test"));
  }
  return absl::OkStatus();
}

absl::StatusOr<JobSpec> ParseJobNode(const YAML::Node& root, const std::string& source,
                                     const std::string& base_dir) {
  FieldReader r(source, base_dir);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": expected a map with model, compile, fit and data, got '",
                     YamlForMessage(root), "'"));
  }
  FORNAX_RETURN_IF_ERROR(r.CheckMap(root, "", {"model", "compile", "fit", "data", "backend"}));
  JobSpec job;
  job.path = source;
  if (!root["model"]) return r.Error("model", "required: the path of a Keras model JSON");
  FORNAX_ASSIGN_OR_RETURN(std::string model, r.String(root["model"], "model"));
  job.model_path = r.Resolve(model);
  const bool from_archive = IsModelArchive(job.model_path);
  if (root["compile"]) {
    FORNAX_RETURN_IF_ERROR(ParseCompile(r, root["compile"], from_archive, &job));
  } else if (!from_archive) {
    return r.Error("compile",
                   "required (at least compile.loss) unless the model is a .keras or .h5 "
                   "archive, whose compile_config is the default");
  }
  if (root["backend"]) {
    FORNAX_ASSIGN_OR_RETURN(job.compile.backend, r.String(root["backend"], "backend"));
  }
  if (root["fit"]) FORNAX_RETURN_IF_ERROR(ParseFit(r, root["fit"], &job));
  if (root["data"]) FORNAX_RETURN_IF_ERROR(ParseData(r, root["data"], &job));
  return job;
}

}  // namespace

bool IsModelArchive(const std::string& model_path) {
  return absl::EndsWith(model_path, ".keras") || absl::EndsWith(model_path, ".h5");
}

absl::StatusOr<JobSpec> ParseJobYaml(const std::string& text, const std::string& source,
                                     const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": malformed YAML: ", e.msg));
  }
  // yaml-cpp reports misuse by throwing; keep any such surprise a clean error.
  try {
    return ParseJobNode(root, source, base_dir);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid job file: ", e.what()));
  }
}

absl::StatusOr<JobSpec> ParseJobFile(const std::string& path) {
  FORNAX_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  std::string dir = std::filesystem::path(path).parent_path().string();
  return ParseJobYaml(text, path, dir.empty() ? "." : dir);
}

absl::Status CheckInputFilePath(absl::string_view path, absl::string_view sha256) {
  absl::Status inside = CheckRelativePathInside(path);
  std::string why(inside.message());
  if (inside.ok()) {
    const std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
    if (parts.size() != 3 || parts[0] != "inputs") {
      why = "not three parts under inputs/";
    } else if (parts[1] != sha256) {
      why = "its second part is not the input's sha256";
    }
  }
  if (why.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("expected inputs/<sha256>/<name> with the input's sha256, got '",
                   absl::CHexEscape(path), "' (", why, ")"));
}

}  // namespace fornax
