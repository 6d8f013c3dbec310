// `fornax predict`: runs a .keras archive's model on arrays from .npy/.npz
// and writes its outputs to .npy/.npz.
#include <iostream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/commands.h"
#include "engine/archive/keras_archive.h"
#include "engine/base/status_macros.h"
#include "engine/data/npy.h"
#include "engine/data/npz.h"

namespace fornax {

const char kPredictHelp[] = R"(usage: fornax predict --model FILE.keras --input X.npy|X.npz
                      --output Y.npy|Y.npz [--batch-size N]

Loads a Keras 3 .keras archive (written by Keras or by `fornax train
--output`) and runs model.predict on the input arrays.

  --model FILE     the .keras archive
  --input FILE     .npy for a single-input model; .npz with one array per
                   model input, keyed by input name
  --output FILE    .npy for a single-output model's predictions; .npz keyed
                   by output name (any number of outputs)
  --batch-size N   samples per step (default 32)
)";

namespace {

struct PredictOptions {
  std::string model_path;
  std::string input_path;
  std::string output_path;
  int64_t batch_size = 32;
};

absl::StatusOr<std::vector<Tensor>> ReadInputs(const std::string& path, const Model& model) {
  if (absl::EndsWith(path, ".npz")) {
    std::vector<Tensor> x;
    for (const TensorSpec& input : model.inputs()) {
      FORNAX_ASSIGN_OR_RETURN(Tensor value, ReadNpzMember(path, input.name));
      x.push_back(std::move(value));
    }
    return x;
  }
  if (model.inputs().size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("predict: --input ", path, ": the model has ", model.inputs().size(),
                     " inputs; give an .npz with one array per input name"));
  }
  FORNAX_ASSIGN_OR_RETURN(Tensor value, ReadNpy(path));
  return std::vector<Tensor>{std::move(value)};
}

absl::Status Predict(const PredictOptions& options) {
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                          LoadKerasArchive(options.model_path, /*seed=*/0));
  const Model& model = trainer->model();
  FORNAX_ASSIGN_OR_RETURN(std::vector<Tensor> x, ReadInputs(options.input_path, model));
  FORNAX_ASSIGN_OR_RETURN(std::vector<Tensor> y, trainer->Predict(x, options.batch_size));
  if (absl::EndsWith(options.output_path, ".npz")) {
    NamedTensors named;
    for (size_t i = 0; i < y.size(); ++i) named.emplace_back(model.outputs()[i].name, y[i]);
    return WriteNpz(options.output_path, named);
  }
  if (y.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("predict: --output ", options.output_path,
                                                   ": the model has ", y.size(),
                                                   " outputs; write an .npz"));
  }
  return WriteNpy(options.output_path, y[0]);
}

}  // namespace

int RunPredict(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs("predict", args, {"model", "input", "output", "batch-size"}, {"help"});
  if (!parsed.ok()) return ReportError(parsed.status());
  if (parsed->switches.count("help")) {
    std::cout << kPredictHelp;
    return kExitOk;
  }
  PredictOptions options;
  for (const char* flag : {"model", "input", "output"}) {
    if (!parsed->values.count(flag)) {
      return ReportError(absl::InvalidArgumentError(absl::StrCat(
          "predict: --", flag,
          " is required (usage: fornax predict --model FILE.keras --input X --output Y)")));
    }
  }
  if (!parsed->positional.empty()) {
    return ReportError(absl::InvalidArgumentError(
        absl::StrCat("predict: unexpected argument '", parsed->positional[0], "'")));
  }
  options.model_path = parsed->values["model"];
  options.input_path = parsed->values["input"];
  options.output_path = parsed->values["output"];
  if (parsed->values.count("batch-size")) {
    const std::string& value = parsed->values["batch-size"];
    if (!absl::SimpleAtoi(value, &options.batch_size) || options.batch_size < 1) {
      return ReportError(absl::InvalidArgumentError(
          absl::StrCat("predict: --batch-size: expected a positive integer, got '", value, "'")));
    }
  }
  absl::Status status = Predict(options);
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace fornax
