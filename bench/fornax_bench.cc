// fornax_bench: Fornax's side of bench/train_bench.py. Trains one model
// config on Fashion-MNIST with the Trainer API (Adam 1e-3, sparse
// categorical cross-entropy, accuracy), exactly as the Python peers do:
// a warm-up fit (tracing, compilation, first allocations) and then a timed
// fit over a fixed number of full batches. Prints one JSON line.
//
//   fornax_bench --model mlp --model_config bench/models/mlp.json
//       --threads 1 --steps 469 --warmup-steps 20 --batch 128
//
// Exit code 2 with a message on bad arguments or data, like the CLI.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/base/status_macros.h"
#include "engine/data/idx.h"
#include "engine/keras/models/model.h"
#include "engine/keras/models/trainer.h"
#include "engine/runtime/backend.h"
#include "nlohmann/json.hpp"

namespace fornax {
namespace {

constexpr char kDefaultDataDir[] = "/usr/share/datasets/fashion-mnist";

struct Options {
  std::string model = "mlp";
  std::string model_config;
  int threads = 1;
  int64_t steps = 100;
  int64_t warmup_steps = 20;
  int64_t batch = 128;
};

absl::StatusOr<Options> ParseArgs(int argc, char** argv) {
  Options options;
  std::map<std::string, std::string> values;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (flag.rfind("--", 0) != 0 || i + 1 >= argc) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected '--flag value' pairs, got '", flag, "'"));
    }
    values[flag.substr(2)] = argv[i + 1];
  }
  auto parse_int = [&](const std::string& name, int64_t* out) -> absl::Status {
    auto it = values.find(name);
    if (it == values.end()) return absl::OkStatus();
    if (!absl::SimpleAtoi(it->second, out) || *out < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": expected a positive integer, got '", it->second, "'"));
    }
    values.erase(it);
    return absl::OkStatus();
  };
  int64_t threads = options.threads;
  FORNAX_RETURN_IF_ERROR(parse_int("threads", &threads));
  options.threads = static_cast<int>(threads);
  FORNAX_RETURN_IF_ERROR(parse_int("steps", &options.steps));
  FORNAX_RETURN_IF_ERROR(parse_int("warmup-steps", &options.warmup_steps));
  FORNAX_RETURN_IF_ERROR(parse_int("batch", &options.batch));
  if (auto it = values.find("model"); it != values.end()) {
    options.model = it->second;
    values.erase(it);
  }
  if (auto it = values.find("model_config"); it != values.end()) {
    options.model_config = it->second;
    values.erase(it);
  }
  if (!values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown flag --", values.begin()->first,
        "; expected --model, --model_config, --threads, --steps, --warmup-steps, --batch"));
  }
  if (options.model_config.empty()) {
    return absl::InvalidArgumentError("--model_config: required (a Keras model.to_json() file)");
  }
  return options;
}

// `count` samples from the training set as float32 (count, 28, 28, 1) in
// [0, 1] and uint8 labels; past the 60000 images the set holds, it starts
// over, so every step sees a full batch.
absl::StatusOr<Dataset> LoadFashionMnist(int64_t count) {
  const char* dir_env = std::getenv("FORNAX_FASHION_DIR");
  std::string dir = dir_env != nullptr ? dir_env : kDefaultDataDir;
  FORNAX_ASSIGN_OR_RETURN(Tensor images, ReadIdx(dir + "/train-images-idx3-ubyte.gz"));
  FORNAX_ASSIGN_OR_RETURN(Tensor labels, ReadIdx(dir + "/train-labels-idx1-ubyte.gz"));
  const int64_t available = images.shape().dim(0);
  const int64_t pixels = images.num_elements() / available;
  Tensor x(DType::kFloat32, Shape{count, 28, 28, 1});
  Tensor y(DType::kUInt8, Shape{count});
  const uint8_t* src = images.data<uint8_t>();
  float* dst = x.data<float>();
  for (int64_t i = 0; i < count; ++i) {
    const int64_t from = i % available;
    for (int64_t p = 0; p < pixels; ++p) {
      dst[i * pixels + p] = static_cast<float>(src[from * pixels + p]) / 255.0f;
    }
    y.data<uint8_t>()[i] = labels.data<uint8_t>()[from];
  }
  Dataset data;
  data.x.push_back(std::move(x));
  data.y.push_back(std::move(y));
  return data;
}

Dataset Rows(const Dataset& data, int64_t begin, int64_t end) {
  Dataset rows;
  for (const Tensor& t : data.x) rows.x.push_back(t.SliceRows(begin, end));
  for (const Tensor& t : data.y) rows.y.push_back(t.SliceRows(begin, end));
  return rows;
}

absl::Status Run(const Options& options) {
  FORNAX_ASSIGN_OR_RETURN(Backend * cpu, GetBackend("cpu"));
  cpu->set_num_threads(options.threads);

  const int64_t warmup_samples = options.warmup_steps * options.batch;
  const int64_t timed_samples = options.steps * options.batch;
  FORNAX_ASSIGN_OR_RETURN(Dataset data, LoadFashionMnist(warmup_samples + timed_samples));

  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, Model::FromJsonFile(options.model_config));
  CompileConfig compile;
  compile.optimizer = {{"class_name", "Adam"}, {"config", {{"learning_rate", 1e-3}}}};
  compile.loss = "sparse_categorical_crossentropy";
  compile.metrics = nlohmann::json::array({"accuracy"});
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                          Trainer::Create(std::move(model), compile, /*seed=*/1));
  FitConfig fit;
  fit.epochs = 1;
  fit.batch_size = options.batch;
  fit.shuffle = false;

  FORNAX_RETURN_IF_ERROR(trainer->Fit(Rows(data, 0, warmup_samples), nullptr, fit, {}).status());
  const auto start = std::chrono::steady_clock::now();
  FORNAX_ASSIGN_OR_RETURN(
      History history,
      trainer->Fit(Rows(data, warmup_samples, warmup_samples + timed_samples), nullptr, fit, {}));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  nlohmann::json result = {
      {"peer", "fornax"},
      {"model", options.model},
      {"threads", options.threads},
      {"steps", options.steps},
      {"batch", options.batch},
      {"seconds", seconds},
      {"samples_per_s", static_cast<double>(timed_samples) / seconds},
      {"final_loss", history["loss"].empty() ? 0.0 : history["loss"].back()},
      {"accuracy", history["accuracy"].empty() ? 0.0 : history["accuracy"].back()},
      {"retraces", trainer->retrace_count()},
      {"version", "fornax (this checkout)"},
  };
  std::printf("%s\n", result.dump().c_str());
  return absl::OkStatus();
}

}  // namespace
}  // namespace fornax

int main(int argc, char** argv) {
  absl::StatusOr<fornax::Options> options = fornax::ParseArgs(argc, argv);
  absl::Status status = options.ok() ? fornax::Run(*options) : options.status();
  if (!status.ok()) {
    std::fprintf(stderr, "fornax_bench: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  return 0;
}
