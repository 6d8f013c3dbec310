#include "server/inference/model_settings.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "nlohmann/json.hpp"
#include "server/inference/utf8.h"

namespace fornax::serving {
namespace {

// What came, for an error message: a scalar as written, a list or an object
// by its type only (dumping one would recurse as deep as it nests, and a
// deeply nested one overflowed the stack).
std::string Shown(const nlohmann::json& value) {
  return value.is_structured() ? std::string(value.type_name()) : value.dump();
}

absl::StatusOr<int64_t> PositiveInt(const nlohmann::json& value, const std::string& where,
                                    int64_t minimum) {
  if (!value.is_number_integer() || value.get<int64_t>() < minimum) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected an integer >= ", minimum, ", got ", Shown(value)));
  }
  return value.get<int64_t>();
}

absl::Status Invalid(const std::string& source, const std::string& field,
                     const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ": ", problem));
}

// Triton refuses a policy that can serve nothing; so do we.
absl::Status CheckVersionPolicy(const inference::ModelVersionPolicy& policy,
                                const std::string& source) {
  if (policy.has_latest() && policy.latest().num_versions() < 1) {
    return Invalid(source, "version_policy.latest.num_versions", "expected an integer >= 1");
  }
  if (policy.has_specific()) {
    if (policy.specific().versions().empty()) {
      return Invalid(source, "version_policy.specific.versions",
                     "expected at least one version number");
    }
    for (int64_t version : policy.specific().versions()) {
      if (version < 1) {
        return Invalid(source, "version_policy.specific.versions",
                       absl::StrCat("expected positive version numbers, got ", version));
      }
    }
  }
  return absl::OkStatus();
}

// config.json's "version_policy": {"latest": {"num_versions": N}}, {"all":
// {}} or {"specific": {"versions": [...]}}.
absl::StatusOr<inference::ModelVersionPolicy> ParseJsonVersionPolicy(const nlohmann::json& json,
                                                                     const std::string& source) {
  const std::string where = absl::StrCat(source, ": version_policy");
  const std::string expected =
      "expected {\"latest\": {\"num_versions\": N}}, {\"all\": {}} or "
      "{\"specific\": {\"versions\": [...]}}";
  if (!json.is_object() || json.size() != 1 || !json.begin().value().is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", expected));
  }
  const std::string& kind = json.begin().key();
  const nlohmann::json& body = json.begin().value();
  inference::ModelVersionPolicy policy;
  if (kind == "all" && body.empty()) {
    policy.mutable_all();
  } else if (kind == "latest" && body.size() == 1 && body.contains("num_versions")) {
    absl::StatusOr<int64_t> n =
        PositiveInt(body["num_versions"], absl::StrCat(where, ".latest.num_versions"), 1);
    if (!n.ok()) return n.status();
    policy.mutable_latest()->set_num_versions(static_cast<uint32_t>(*n));
  } else if (kind == "specific" && body.size() == 1 && body.contains("versions") &&
             body["versions"].is_array()) {
    for (const nlohmann::json& version : body["versions"]) {
      absl::StatusOr<int64_t> n =
          PositiveInt(version, absl::StrCat(where, ".specific.versions"), 1);
      if (!n.ok()) return n.status();
      policy.mutable_specific()->add_versions(*n);
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", expected));
  }
  FORNAX_RETURN_IF_ERROR(CheckVersionPolicy(policy, source));
  return policy;
}

// Collects the first parse error with its 1-based line and column.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.empty()) error_ = absl::StrCat(line + 1, ":", column + 1, ": ", message);
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

// The parts of a parsed config.pbtxt that Fornax takes as Triton means
// them; everything else set in it is refused here by name.
absl::Status CheckPbtxtScope(const inference::ModelConfig& config, const std::string& source,
                             const std::string& model_name) {
  if (!config.name().empty() && config.name() != model_name) {
    return Invalid(source, "name",
                   absl::StrCat("'", config.name(), "' does not match the model's directory '",
                                model_name, "' (Triton requires them to be equal)"));
  }
  const auto ours = [](const std::string& kind) {
    return kind.empty() || kind == "keras" || kind == "fornax";
  };
  for (const auto& [field, value] :
       {std::pair{"platform", config.platform()}, std::pair{"backend", config.backend()}}) {
    if (!ours(value)) {
      return Invalid(source, field,
                     absl::StrCat("'", value,
                                  "' is not served here: this server runs .keras models "
                                  "(leave it out, or use 'keras' or 'fornax')"));
    }
  }
  if (config.max_batch_size() < 1) {
    return Invalid(source, "max_batch_size",
                   absl::StrCat("expected an integer >= 1, got ", config.max_batch_size(),
                                " (0, or leaving it out, means no batch dimension to Triton; "
                                "the first dimension of a Keras model is always the batch)"));
  }
  // The text format takes any number for an enum (proto3 enums are open): a
  // value without a name is refused here, where its number can name it.
  for (int i = 0; i < config.instance_group_size(); ++i) {
    const inference::ModelInstanceGroup& group = config.instance_group(i);
    if (!inference::ModelInstanceGroup::Kind_IsValid(group.kind())) {
      return Invalid(source, absl::StrCat("instance_group[", i, "].kind"),
                     absl::StrCat("unknown kind ", group.kind()));
    }
    if (group.kind() != inference::ModelInstanceGroup::KIND_AUTO &&
        group.kind() != inference::ModelInstanceGroup::KIND_CPU) {
      return Invalid(source, absl::StrCat("instance_group[", i, "].kind"),
                     absl::StrCat(inference::ModelInstanceGroup::Kind_Name(group.kind()),
                                  " is not supported: Fornax runs one instance of each "
                                  "version (KIND_AUTO or KIND_CPU)"));
    }
  }
  if (!config.parameters().empty()) {
    return Invalid(source, absl::StrCat("parameters[\"", config.parameters().begin()->first, "\"]"),
                   "Fornax's Keras backend takes no parameters");
  }
  if (config.model_transaction_policy().decoupled()) {
    return Invalid(source, "model_transaction_policy.decoupled",
                   "decoupled models are not supported (one response per request)");
  }
  for (const inference::ModelInput& input : config.input()) {
    if (!inference::DataType_IsValid(input.data_type())) {
      return Invalid(source, absl::StrCat("input '", input.name(), "'.data_type"),
                     absl::StrCat("unknown type ", input.data_type()));
    }
    if (input.optional()) {
      return Invalid(source, absl::StrCat("input '", input.name(), "'.optional"),
                     "every input of a Keras model is required");
    }
  }
  for (const inference::ModelOutput& output : config.output()) {
    if (!inference::DataType_IsValid(output.data_type())) {
      return Invalid(source, absl::StrCat("output '", output.name(), "'.data_type"),
                     absl::StrCat("unknown type ", output.data_type()));
    }
    // Triton joins any path to the model directory; here it must stay
    // inside, as the file's lines are answered to every client. ModelConfig
    // answers the name in a string field, which must be UTF-8.
    const std::string& filename = output.label_filename();
    if (filename.empty()) continue;
    absl::Status inside = CheckRelativePathInside(filename);
    if (inside.ok() && !IsUtf8(filename)) inside = absl::InvalidArgumentError("is not UTF-8");
    if (!inside.ok()) {
      return Invalid(source, absl::StrCat("output '", output.name(), "'.label_filename"),
                     absl::StrCat("'", Utf8Safe(filename), "' ", inside.message(),
                                  "; expected a file in the model directory"));
    }
  }
  return CheckVersionPolicy(config.version_policy(), source);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// config.json without its version_policy; `source` names the file in error
// messages.
absl::StatusOr<BatchingConfig> ParseBatchingConfig(const nlohmann::json& json,
                                                   const std::string& source) {
  BatchingConfig config;
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": expected a JSON object"));
  }
  for (const auto& [key, value] : json.items()) {
    const std::string where = absl::StrCat(source, ": ", key);
    if (key == "max_batch_size") {
      absl::StatusOr<int64_t> n = PositiveInt(value, where, 1);
      if (!n.ok()) return n.status();
      config.max_batch_size = *n;
    } else if (key == "dynamic_batching") {
      if (value.is_boolean()) {
        config.dynamic_batching = value.get<bool>();
        continue;
      }
      if (!value.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": expected an object or false, got ", Shown(value)));
      }
      for (const auto& [field, setting] : value.items()) {
        const std::string at = absl::StrCat(where, ".", field);
        if (field == "max_queue_delay_microseconds") {
          absl::StatusOr<int64_t> n = PositiveInt(setting, at, 0);
          if (!n.ok()) return n.status();
          config.max_queue_delay_us = *n;
        } else if (field == "preferred_batch_size") {
          if (!setting.is_array()) {
            return absl::InvalidArgumentError(
                absl::StrCat(at, ": expected a list of integers, got ", Shown(setting)));
          }
          for (const nlohmann::json& size : setting) {
            absl::StatusOr<int64_t> n = PositiveInt(size, at, 1);
            if (!n.ok()) return n.status();
            config.preferred_batch_sizes.push_back(*n);
          }
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat(at,
                           ": unknown setting; expected preferred_batch_size or "
                           "max_queue_delay_microseconds"));
        }
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unknown setting; expected max_batch_size, dynamic_batching or version_policy"));
    }
  }
  for (int64_t size : config.preferred_batch_sizes) {
    if (size > config.max_batch_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": dynamic_batching.preferred_batch_size ", size,
                       " is larger than max_batch_size ", config.max_batch_size));
    }
  }
  return config;
}

}  // namespace

inference::ModelVersionPolicy DefaultVersionPolicy() {
  inference::ModelVersionPolicy policy;
  policy.mutable_latest()->set_num_versions(1);
  return policy;
}

std::vector<int64_t> SelectVersions(const inference::ModelVersionPolicy& policy,
                                    const std::vector<int64_t>& available) {
  if (policy.has_all()) return available;
  if (policy.has_specific()) {
    std::vector<int64_t> chosen;
    for (int64_t version : available) {
      const auto& wanted = policy.specific().versions();
      if (std::find(wanted.begin(), wanted.end(), version) != wanted.end()) {
        chosen.push_back(version);
      }
    }
    return chosen;
  }
  const size_t n = policy.has_latest() ? policy.latest().num_versions() : 1;
  return std::vector<int64_t>(available.end() - std::min(n, available.size()), available.end());
}

absl::StatusOr<ModelSettings> ParseModelConfigPbtxt(std::string_view text,
                                                    const std::string& source,
                                                    const std::string& model_name) {
  inference::ModelConfig config;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    const bool unknown = errors.error().find("has no field named") != std::string::npos;
    return absl::InvalidArgumentError(
        absl::StrCat(source, ":", errors.error(),
                     unknown ? " (Fornax refuses the Triton settings it does not honour; "
                               "docs/serving.md lists those it takes)"
                             : ""));
  }
  FORNAX_RETURN_IF_ERROR(CheckPbtxtScope(config, source, model_name));
  ModelSettings settings;
  settings.source = source;
  settings.batching.max_batch_size = config.max_batch_size();
  settings.batching.dynamic_batching = config.has_dynamic_batching();
  const inference::ModelDynamicBatching& batching = config.dynamic_batching();
  if (batching.max_queue_delay_microseconds() >
      static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Invalid(source, "dynamic_batching.max_queue_delay_microseconds", "too large");
  }
  settings.batching.max_queue_delay_us =
      static_cast<int64_t>(batching.max_queue_delay_microseconds());
  for (int32_t size : batching.preferred_batch_size()) {
    if (size < 1 || size > config.max_batch_size()) {
      return Invalid(source, "dynamic_batching.preferred_batch_size",
                     absl::StrCat("expected sizes in 1..max_batch_size (", config.max_batch_size(),
                                  "), got ", size));
    }
    settings.batching.preferred_batch_sizes.push_back(size);
  }
  settings.version_policy =
      config.has_version_policy() ? config.version_policy() : DefaultVersionPolicy();
  settings.inputs.assign(config.input().begin(), config.input().end());
  settings.outputs.assign(config.output().begin(), config.output().end());
  const std::filesystem::path model_dir = std::filesystem::path(source).parent_path();
  for (const inference::ModelOutput& output : config.output()) {
    if (output.label_filename().empty()) continue;
    settings.label_files.push_back(
        {output.name(), output.label_filename(), (model_dir / output.label_filename()).string()});
  }
  return settings;
}

absl::StatusOr<ModelSettings> ParseModelConfigJson(std::string_view text,
                                                   const std::string& source) {
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  ModelSettings settings;
  settings.source = source;
  settings.version_policy = DefaultVersionPolicy();
  if (json.is_object() && json.contains("version_policy")) {
    FORNAX_ASSIGN_OR_RETURN(settings.version_policy,
                            ParseJsonVersionPolicy(json["version_policy"], source));
    json.erase("version_policy");
  }
  FORNAX_ASSIGN_OR_RETURN(settings.batching, ParseBatchingConfig(json, source));
  return settings;
}

absl::StatusOr<ModelSettings> ReadModelSettings(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  const std::string json_path = (dir / "config.json").string();
  const std::string pbtxt_path = (dir / "config.pbtxt").string();
  absl::StatusOr<std::string> json_text = ReadFile(json_path);
  absl::StatusOr<std::string> pbtxt_text = ReadFile(pbtxt_path);
  if (json_text.ok() && pbtxt_text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_dir, ": both config.json and config.pbtxt are present; keep only one"));
  }
  if (pbtxt_text.ok()) {
    return ParseModelConfigPbtxt(*pbtxt_text, pbtxt_path, dir.filename().string());
  }
  if (json_text.ok()) return ParseModelConfigJson(*json_text, json_path);
  ModelSettings settings;
  settings.version_policy = DefaultVersionPolicy();
  return settings;
}

}  // namespace fornax::serving
