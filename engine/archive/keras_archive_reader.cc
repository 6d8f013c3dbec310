// ReadKerasArchive / LoadKerasArchive: libzip to read the members into
// memory (nothing is ever extracted to disk), H5Reader for the weights.
#include <zip.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/archive/keras_archive.h"
#include "engine/archive/keras_layout.h"
#include "engine/archive/legacy_h5.h"
#include "engine/base/status_macros.h"
#include "engine/data/file_util.h"
#include "engine/keras/optimizers/optimizer.h"

namespace fornax {
namespace {

constexpr zip_uint64_t kMaxMemberBytes = zip_uint64_t{4} << 30;
constexpr zip_uint64_t kMaxExpansion = 100;  // Keras 3.15's zip-bomb guard

// Nothing is extracted to disk, but a member whose name could leave the
// directory it would be extracted to makes the whole archive suspect. A
// directory entry ("assets/", as `zip -r` writes) ends in one '/'.
absl::Status CheckMemberName(const std::string& archive, const std::string& name) {
  absl::string_view relative = name;
  if (relative.size() > 1) absl::ConsumeSuffix(&relative, "/");
  absl::Status inside = CheckRelativePathInside(relative);
  if (inside.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(archive, ": member '", absl::CHexEscape(name),
                   "' has a name that could point outside the archive's directory (",
                   inside.message(), "); refusing the archive"));
}

absl::StatusOr<std::string> ReadMember(zip_t* zip, const std::string& archive,
                                       const std::string& name) {
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat(zip, name.c_str(), 0, &stat) < 0) {
    return absl::NotFoundError(absl::StrCat(archive, ": the archive has no member '", name, "'"));
  }
  if (stat.size > kMaxMemberBytes ||
      (stat.comp_size > 0 && stat.size / kMaxExpansion > stat.comp_size)) {
    return absl::InvalidArgumentError(
        absl::StrCat(archive, ": member '", name, "' declares ", stat.size, " bytes from ",
                     stat.comp_size, " stored bytes (over 4 GiB or 100x); refusing it"));
  }
  zip_file_t* file = zip_fopen_index(zip, stat.index, 0);
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(archive, ": cannot open member '", name, "': ", zip_strerror(zip)));
  }
  std::string data(static_cast<size_t>(stat.size), '\0');
  const zip_int64_t read = zip_fread(file, data.data(), stat.size);
  zip_fclose(file);
  if (read < 0 || static_cast<zip_uint64_t>(read) != stat.size) {
    return absl::InvalidArgumentError(absl::StrCat(archive, ": member '", name, "' is truncated (",
                                                   read, " of ", stat.size, " bytes)"));
  }
  return data;
}

// Puts the bytes of each kFornaxTensorsMember reference in `state` (what
// SaveKerasArchive's MoveBytesOut left) back as a binary value, from
// `tensors`, the member's contents (empty when the archive has none).
// `field` is where `state` is in metadata.json, for errors; `depth` its
// nesting, bounded so that a hostile archive cannot exhaust the stack.
absl::Status MoveBytesIn(nlohmann::json& state, const std::string& tensors,
                         const std::string& archive, const std::string& field, int depth) {
  constexpr int kMaxDepth = 64;
  if (depth > kMaxDepth && state.is_structured()) {
    return absl::InvalidArgumentError(absl::StrCat(archive, ": metadata.json: ", field,
                                                   ": nested deeper than ", kMaxDepth, " levels"));
  }
  if (state.is_array()) {
    for (size_t i = 0; i < state.size(); ++i) {
      FORNAX_RETURN_IF_ERROR(
          MoveBytesIn(state[i], tensors, archive, absl::StrCat(field, "[", i, "]"), depth + 1));
    }
    return absl::OkStatus();
  }
  if (!state.is_object()) return absl::OkStatus();
  const auto member = state.find("member");
  if (member == state.end() || *member != kFornaxTensorsMember) {
    for (auto& [key, item] : state.items()) {
      FORNAX_RETURN_IF_ERROR(
          MoveBytesIn(item, tensors, archive, absl::StrCat(field, ".", key), depth + 1));
    }
    return absl::OkStatus();
  }
  auto count = [&](const char* key) -> std::optional<uint64_t> {
    if (!state.contains(key) || !state[key].is_number_unsigned()) return std::nullopt;
    return state[key].get<uint64_t>();
  };
  const std::optional<uint64_t> offset = count("offset"), size = count("size"),
                                crc = count("crc32");
  if (!offset || !size || !crc) {
    return absl::InvalidArgumentError(
        absl::StrCat(archive, ": metadata.json: ", field,
                     R"(: expected {"member", "offset", "size", "crc32"} with integers >= 0)"));
  }
  if (*offset > tensors.size() || *size > tensors.size() - *offset) {
    return absl::InvalidArgumentError(
        absl::StrCat(archive, ": member '", kFornaxTensorsMember, "' has ", tensors.size(),
                     " bytes, ", "but metadata.json's ", field, " needs bytes [", *offset, ", ",
                     *offset + *size, ") (a missing or truncated member)"));
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(tensors.data()) + *offset;
  const uint64_t actual = crc32_z(0, bytes, *size);
  if (actual != *crc) {
    return absl::InvalidArgumentError(
        absl::StrCat(archive, ": member '", kFornaxTensorsMember, "': bytes [", *offset, ", ",
                     *offset + *size, ") for metadata.json's ", field, " have crc32 ", actual,
                     ", expected ", *crc, " (a corrupt member)"));
  }
  state = nlohmann::json::binary({bytes, bytes + *size});
  return absl::OkStatus();
}

absl::Status LoadGroup(const H5Reader& h5, const std::string& path, const std::string& group,
                       const std::string& owner, VariableStore& store,
                       const std::vector<int64_t>& indices) {
  const std::string vars = absl::StrCat(group, "/vars");
  const int64_t saved = h5.CountMembers(vars);
  if (saved != static_cast<int64_t>(indices.size())) {
    std::string expected;
    for (int64_t i : indices)
      absl::StrAppend(&expected, expected.empty() ? "" : ", ", store.info(i).path);
    return absl::InvalidArgumentError(absl::StrCat(path, ": model.weights.h5: ", vars, ": '", owner,
                                                   "' expected ", indices.size(), " variables [",
                                                   expected, "], but the file has ", saved));
  }
  for (size_t i = 0; i < indices.size(); ++i) {
    Tensor& variable = store.value(indices[i]);
    FORNAX_ASSIGN_OR_RETURN(Tensor value, h5.ReadVariable(absl::StrCat(vars, "/", i),
                                                          store.info(indices[i]).path, variable));
    CopyIntoVariable(value, variable);
  }
  return absl::OkStatus();
}

// Reads the legacy .h5 `path` when it starts with HDF5's signature; nullopt
// for anything else (a zip, or garbage for libzip to refuse).
absl::StatusOr<std::optional<KerasArchive>> ReadIfLegacyH5(const std::string& path) {
  char signature[8] = {};
  {
    std::ifstream file(path, std::ios::binary);
    if (!file.read(signature, sizeof(signature)) ||
        std::string(signature, sizeof(signature)) != "\x89HDF\r\n\x1a\n") {
      return std::nullopt;
    }
  }
  FORNAX_ASSIGN_OR_RETURN(std::string image, ReadFileToString(path));
  FORNAX_ASSIGN_OR_RETURN(KerasArchive archive, ReadLegacyH5(std::move(image), path));
  return archive;
}

}  // namespace

CompileConfig CompileConfigFromKeras(const nlohmann::json& compile_config) {
  CompileConfig compile;
  if (!compile_config.is_object()) return compile;
  if (compile_config.contains("optimizer")) compile.optimizer = compile_config["optimizer"];
  compile.loss = compile_config.value("loss", nlohmann::json());
  compile.loss_weights = compile_config.value("loss_weights", nlohmann::json());
  compile.metrics = compile_config.value("metrics", nlohmann::json());
  const nlohmann::json steps = compile_config.value("steps_per_execution", nlohmann::json(1));
  if (steps.is_number_integer()) compile.steps_per_execution = steps.get<int64_t>();
  return compile;
}

absl::StatusOr<KerasArchive> ReadKerasArchive(const std::string& path) {
  FORNAX_ASSIGN_OR_RETURN(std::optional<KerasArchive> legacy, ReadIfLegacyH5(path));
  if (legacy.has_value()) return *std::move(legacy);
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
  if (zip == nullptr) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, error);
    absl::Status status = absl::InvalidArgumentError(
        absl::StrCat(path, ": not a readable .keras (zip) archive: ", zip_error_strerror(&ze)));
    zip_error_fini(&ze);
    return status;
  }
  absl::StatusOr<KerasArchive> result = [&]() -> absl::StatusOr<KerasArchive> {
    const zip_int64_t count = zip_get_num_entries(zip, 0);
    for (zip_int64_t i = 0; i < count; ++i) {
      const char* name = zip_get_name(zip, static_cast<zip_uint64_t>(i), 0);
      FORNAX_RETURN_IF_ERROR(CheckMemberName(path, name != nullptr ? name : ""));
    }
    FORNAX_ASSIGN_OR_RETURN(std::string config_text, ReadMember(zip, path, "config.json"));
    KerasArchive archive;
    archive.config = nlohmann::json::parse(config_text, nullptr, /*allow_exceptions=*/false);
    if (archive.config.is_discarded() || !archive.config.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": config.json is not a JSON object"));
    }
    absl::StatusOr<std::string> metadata = ReadMember(zip, path, "metadata.json");
    if (metadata.ok()) {
      const nlohmann::json parsed =
          nlohmann::json::parse(*metadata, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_object()) archive.fornax_state = parsed.value("fornax", nlohmann::json());
    }
    std::string tensors;
    if (zip_name_locate(zip, kFornaxTensorsMember, 0) >= 0) {
      FORNAX_ASSIGN_OR_RETURN(tensors, ReadMember(zip, path, kFornaxTensorsMember));
    }
    FORNAX_RETURN_IF_ERROR(MoveBytesIn(archive.fornax_state, tensors, path, "fornax", 0));
    FORNAX_ASSIGN_OR_RETURN(std::string weights, ReadMember(zip, path, "model.weights.h5"));
    FORNAX_ASSIGN_OR_RETURN(archive.weights,
                            H5Reader::Open(std::move(weights), path + ": model.weights.h5"));
    return archive;
  }();
  zip_discard(zip);
  return result;
}

absl::StatusOr<std::unique_ptr<Trainer>> LoadKerasArchive(
    const std::string& path, uint64_t seed, const CompileConfig* override_compile,
    const std::vector<std::string>* compile_keys, nlohmann::json* fornax_state) {
  FORNAX_ASSIGN_OR_RETURN(KerasArchive archive, ReadKerasArchive(path));
  if (fornax_state != nullptr) *fornax_state = archive.fornax_state;
  const std::string config_name = archive.legacy_h5 ? "model_config" : "config.json";
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                          Model::FromJson(archive.config, absl::StrCat(path, ": ", config_name)));
  CompileConfig compile =
      CompileConfigFromKeras(archive.config.value("compile_config", nlohmann::json()));
  if (override_compile != nullptr) {
    auto given = [&](const char* key) {
      return compile_keys == nullptr ||
             std::find(compile_keys->begin(), compile_keys->end(), key) != compile_keys->end();
    };
    if (given("optimizer")) compile.optimizer = override_compile->optimizer;
    if (given("loss")) compile.loss = override_compile->loss;
    if (given("loss_weights")) compile.loss_weights = override_compile->loss_weights;
    if (given("metrics")) compile.metrics = override_compile->metrics;
    if (given("steps_per_execution")) {
      compile.steps_per_execution = override_compile->steps_per_execution;
    }
    compile.backend = override_compile->backend;
  }
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      Trainer::Create(std::move(model), compile, seed);
  if (!trainer.ok()) {
    return absl::Status(
        trainer.status().code(),
        absl::StrCat(path, ": ", archive.legacy_h5 ? "training_config" : "compile_config", ": ",
                     trainer.status().message()));
  }
  if (archive.legacy_h5) {
    FORNAX_RETURN_IF_ERROR(LoadLegacyWeights(archive, path, **trainer));
    return trainer;
  }
  VariableStore& store = (*trainer)->variables();
  FORNAX_ASSIGN_OR_RETURN(std::vector<LayerVariables> groups,
                          KerasLayerGroups((*trainer)->model(), store));
  for (const LayerVariables& layer : groups) {
    FORNAX_RETURN_IF_ERROR(LoadGroup(*archive.weights, path, layer.group,
                                     absl::StrCat("layer ", layer.layer_name), store,
                                     layer.indices));
  }
  // Keras saves an optimizer that was never built (compiled, not trained)
  // with only its base variables (iteration, learning_rate): those load and
  // the slots start at their initial values, as they would in Keras. No
  // optimizer group at all (an uncompiled model) leaves it fresh. Any other
  // mismatch is an error.
  const Optimizer& optimizer = (*trainer)->optimizer();
  std::vector<int64_t> optimizer_variables = optimizer.keras_variables();
  const int64_t saved = archive.weights->CountMembers("optimizer/vars");
  // "<name>/learning_rate" follows the iteration unless the rate is a schedule.
  const int64_t base_variables =
      optimizer_variables.size() > 1 &&
              absl::EndsWith(store.info(optimizer_variables[1]).path, "/learning_rate")
          ? 2
          : 1;
  if (saved == base_variables && saved < static_cast<int64_t>(optimizer_variables.size())) {
    optimizer_variables.resize(static_cast<size_t>(saved));
  }
  if (saved > 0) {
    FORNAX_RETURN_IF_ERROR(LoadGroup(*archive.weights, path, "optimizer",
                                     absl::StrCat("optimizer ", optimizer.name()), store,
                                     optimizer_variables));
  }
  return trainer;
}

}  // namespace fornax
