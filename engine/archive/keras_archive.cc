// SaveKerasArchive: config.json and metadata.json (nlohmann-json), the
// weights file (H5Writer) and the zip (libzip).
#include "engine/archive/keras_archive.h"

#include <zip.h>
#include <zlib.h>

#include <ctime>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/archive/h5_writer.h"
#include "engine/archive/keras_layout.h"
#include "engine/base/status_macros.h"
#include "engine/keras/optimizers/optimizer.h"

namespace fornax {
namespace {

// What Keras writes as keras_version: the release whose format this follows.
constexpr char kKerasVersion[] = "3.15.1";

// Keras's envelope around a built-in object: module and registered_name are
// added when a hand-written config left them out.
nlohmann::json Envelope(nlohmann::json object, const char* module) {
  if (!object.is_object() || !object.contains("class_name")) return object;
  if (!object.contains("module")) object["module"] = module;
  if (!object.contains("registered_name")) object["registered_name"] = nullptr;
  if (!object.contains("config")) object["config"] = nlohmann::json::object();
  return object;
}

// A loss or metrics entry: a string, an object, or a list/dict of them.
nlohmann::json SerializeLossesOrMetrics(const nlohmann::json& value, const char* module) {
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(SerializeLossesOrMetrics(item, module));
    return out;
  }
  if (value.is_object() && !value.contains("class_name")) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value.items()) out[key] = SerializeLossesOrMetrics(item, module);
    return out;
  }
  return Envelope(value, module);
}

// compile() stores optimizers.get(optimizer): always a full object, with the
// learning rate read back from its variable (a schedule stays an object).
absl::StatusOr<nlohmann::json> SerializeOptimizer(const Trainer& trainer) {
  static const std::map<std::string, std::string> kClassByAlias = {{"adam", "Adam"},
                                                                   {"adamw", "AdamW"},
                                                                   {"sgd", "SGD"},
                                                                   {"rmsprop", "RMSprop"},
                                                                   {"adagrad", "Adagrad"}};
  nlohmann::json optimizer = trainer.compile_config().optimizer;
  if (optimizer.is_string()) {
    auto it = kClassByAlias.find(optimizer.get<std::string>());
    if (it == kClassByAlias.end()) {
      return absl::UnimplementedError(absl::StrCat("config.json: cannot serialize optimizer '",
                                                   optimizer.get<std::string>(), "'"));
    }
    optimizer = {{"class_name", it->second}, {"config", nlohmann::json::object()}};
  }
  optimizer = Envelope(std::move(optimizer), "keras.optimizers");
  nlohmann::json& config = optimizer["config"];
  config["name"] = trainer.optimizer().name();
  if (config.contains("learning_rate") && config["learning_rate"].is_object()) {
    config["learning_rate"] =
        Envelope(std::move(config["learning_rate"]), "keras.optimizers.schedules");
  } else {
    // Keras reads the float32 variable, so the value is float32-rounded.
    config["learning_rate"] = static_cast<double>(static_cast<float>(trainer.learning_rate()));
  }
  return optimizer;
}

nlohmann::json BuildConfig(const Model& model) {
  if (model.class_name() != "Sequential" || model.inputs().empty()) {
    return {{"input_shape", nullptr}};
  }
  nlohmann::json shape = nlohmann::json::array();
  for (int64_t dim : model.inputs()[0].shape.dims()) {
    shape.push_back(dim == kBatch ? nlohmann::json(nullptr) : nlohmann::json(dim));
  }
  return {{"input_shape", shape}};
}

// Moves every binary value in `state` (a tensor's bytes, callback_state.h) to
// the end of `tensors`, leaving its kFornaxTensorsMember reference in place.
void MoveBytesOut(nlohmann::json& state, std::string& tensors) {
  if (state.is_binary()) {
    const nlohmann::json::binary_t& bytes = state.get_binary();
    nlohmann::json reference = {{"member", kFornaxTensorsMember},
                                {"offset", tensors.size()},
                                {"size", bytes.size()},
                                {"crc32", crc32_z(0, bytes.data(), bytes.size())}};
    tensors.append(bytes.begin(), bytes.end());
    state = std::move(reference);
    return;
  }
  if (state.is_structured()) {
    for (nlohmann::json& item : state) MoveBytesOut(item, tensors);
  }
}

std::string MetadataJson(const nlohmann::json& fornax_state) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%d@%H:%M:%S", &local);
  nlohmann::json metadata = {{"keras_version", kKerasVersion}, {"date_saved", date}};
  if (!fornax_state.is_null()) metadata["fornax"] = fornax_state;
  return metadata.dump();
}

// Writes "<group>/vars" with attribute name=`name` and datasets "0".."n-1".
absl::Status WriteVars(H5Writer& h5, const std::string& group, const std::string& name,
                       const VariableStore& store, const std::vector<int64_t>& indices) {
  const std::string vars = group.empty() ? "vars" : absl::StrCat(group, "/vars");
  FORNAX_RETURN_IF_ERROR(h5.CreateGroup(vars));
  FORNAX_RETURN_IF_ERROR(h5.SetStringAttribute(vars, "name", name));
  for (size_t i = 0; i < indices.size(); ++i) {
    FORNAX_RETURN_IF_ERROR(h5.WriteDataset(absl::StrCat(vars, "/", i), store.value(indices[i])));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> WeightsH5(Trainer& trainer) {
  const Model& model = trainer.model();
  const VariableStore& store = trainer.variables();
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<H5Writer> h5, H5Writer::Create());
  FORNAX_RETURN_IF_ERROR(WriteVars(*h5, "", model.name(), store, {}));

  FORNAX_ASSIGN_OR_RETURN(std::vector<LayerVariables> groups, KerasLayerGroups(model, store));
  for (const LayerVariables& layer : groups) {
    FORNAX_RETURN_IF_ERROR(WriteVars(*h5, layer.group, layer.layer_name, store, layer.indices));
  }
  const Optimizer& optimizer = trainer.optimizer();
  FORNAX_RETURN_IF_ERROR(
      WriteVars(*h5, "optimizer", optimizer.name(), store, optimizer.keras_variables()));
  return h5->FileImage();
}

absl::Status ZipError(const std::string& path, zip_t* zip, const std::string& what) {
  return absl::InternalError(
      absl::StrCat(path, ": cannot ", what, ": ", zip_error_strerror(zip_get_error(zip))));
}

// Writes the members, uncompressed, in order. The zip is written to a
// temporary file and renamed by zip_close.
absl::Status WriteZip(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& members) {
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (zip == nullptr) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, error);
    absl::Status status = absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot create: ", zip_error_strerror(&ze)));
    zip_error_fini(&ze);
    return status;
  }
  for (const auto& [name, data] : members) {
    zip_source_t* source = zip_source_buffer(zip, data.data(), data.size(), 0);
    if (source == nullptr) {
      absl::Status status = ZipError(path, zip, absl::StrCat("add ", name));
      zip_discard(zip);
      return status;
    }
    const zip_int64_t index = zip_file_add(zip, name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      absl::Status status = ZipError(path, zip, absl::StrCat("add ", name));
      zip_discard(zip);
      return status;
    }
    if (zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) < 0) {
      absl::Status status = ZipError(path, zip, absl::StrCat("store ", name, " uncompressed"));
      zip_discard(zip);
      return status;
    }
  }
  if (zip_close(zip) < 0) {
    absl::Status status = ZipError(path, zip, "write the archive");
    zip_discard(zip);
    return status;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<nlohmann::json> KerasArchiveConfig(const Trainer& trainer) {
  const Model& model = trainer.model();
  const CompileConfig& compile = trainer.compile_config();
  nlohmann::json config = model.config();
  if (!config.contains("build_config")) config["build_config"] = BuildConfig(model);
  FORNAX_ASSIGN_OR_RETURN(nlohmann::json optimizer, SerializeOptimizer(trainer));
  config["compile_config"] = {
      {"optimizer", std::move(optimizer)},
      {"loss", SerializeLossesOrMetrics(compile.loss, "keras.losses")},
      {"loss_weights", compile.loss_weights},
      {"metrics", SerializeLossesOrMetrics(compile.metrics, "keras.metrics")},
      {"weighted_metrics", nullptr},
      {"run_eagerly", false},
      {"steps_per_execution", compile.steps_per_execution},
      {"jit_compile", false},
  };
  return config;
}

absl::Status SaveKerasArchive(const std::string& path, Trainer& trainer,
                              const nlohmann::json& fornax_state) {
  FORNAX_ASSIGN_OR_RETURN(nlohmann::json config, KerasArchiveConfig(trainer));
  FORNAX_ASSIGN_OR_RETURN(std::string weights, WeightsH5(trainer));
  nlohmann::json state = fornax_state;
  std::string tensors;
  MoveBytesOut(state, tensors);
  std::vector<std::pair<std::string, std::string>> members = {
      {"metadata.json", MetadataJson(state)},
      {"config.json", config.dump()},
      {"model.weights.h5", std::move(weights)}};
  if (!tensors.empty()) members.emplace_back(kFornaxTensorsMember, std::move(tensors));
  return WriteZip(path, members);
}

}  // namespace fornax
