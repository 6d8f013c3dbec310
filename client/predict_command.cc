// `fornax predict`: runs a .keras archive's model on arrays from .npy/.npz
// and writes its outputs to .npy/.npz; with --server, asks a `fornax serve`
// (or any Open Inference Protocol server) to run a served model instead, and
// a --model that names no file is a deployment the coordinator knows.
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli_util.h"
#include "client/commands.h"
#include "client/service_client.h"
#include "engine/archive/keras_archive.h"
#include "engine/base/status_macros.h"
#include "engine/data/npy.h"
#include "engine/data/npz.h"
#include "grpcpp/grpcpp.h"
#include "proto/inference/grpc_service.grpc.pb.h"
#include "server/inference/tensor_codec.h"

namespace fornax {

const char kPredictHelp[] = R"(usage: fornax predict --model FILE.keras --input X.npy|X.npz
                      --output Y.npy|Y.npz [--batch-size N]
       fornax predict --server HOST:PORT --model NAME --input X --output Y
       fornax [--coordinator ADDR] predict --model NAME --input X --output Y

Loads a Keras 3 .keras archive (written by Keras or by `fornax train
--output`) and runs model.predict on the input arrays. With --server, sends
the arrays in one ModelInfer call to a `fornax serve` (or Triton) instead;
arrays are cast to the served model's input datatypes. When --model is no
file (and does not end in .keras), it names a deployment (`fornax deploy`):
the coordinator says where it is served, and the call goes there as with
--server. While a redeploy loads, the previous version answers.

  --model FILE     the .keras archive (with --server: the served model's name;
                   else a deployment's name when no such file exists)
  --server ADDR    an Open Inference Protocol gRPC server, e.g. 127.0.0.1:8001
  --input FILE     .npy for a single-input model; .npz with one array per
                   model input, keyed by input name
  --output FILE    .npy for a single-output model's predictions; .npz keyed
                   by output name (any number of outputs)
  --batch-size N   samples per step (default 32)
)";

namespace {

struct PredictOptions {
  std::string server;
  std::string model_path;
  std::string input_path;
  std::string output_path;
  int64_t batch_size = 32;
};

// One array per input name, in `names` order.
absl::StatusOr<std::vector<Tensor>> ReadInputs(const std::string& path,
                                               const std::vector<std::string>& names) {
  if (absl::EndsWith(path, ".npz")) {
    std::vector<Tensor> x;
    for (const std::string& name : names) {
      FORNAX_ASSIGN_OR_RETURN(Tensor value, ReadNpzMember(path, name));
      x.push_back(std::move(value));
    }
    return x;
  }
  if (names.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("predict: --input ", path, ": the model has ", names.size(),
                     " inputs; give an .npz with one array per input name"));
  }
  FORNAX_ASSIGN_OR_RETURN(Tensor value, ReadNpy(path));
  return std::vector<Tensor>{std::move(value)};
}

absl::Status WriteOutputs(const std::string& path, const NamedTensors& y) {
  if (absl::EndsWith(path, ".npz")) return WriteNpz(path, y);
  if (y.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("predict: --output ", path, ": the model has ",
                                                   y.size(), " outputs; write an .npz"));
  }
  return WriteNpy(path, y[0].second);
}

absl::Status Predict(const PredictOptions& options) {
  FORNAX_ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                          LoadKerasArchive(options.model_path, /*seed=*/0));
  const Model& model = trainer->model();
  std::vector<std::string> names;
  for (const TensorSpec& input : model.inputs()) names.push_back(input.name);
  FORNAX_ASSIGN_OR_RETURN(std::vector<Tensor> x, ReadInputs(options.input_path, names));
  FORNAX_ASSIGN_OR_RETURN(std::vector<Tensor> y, trainer->Predict(x, options.batch_size));
  NamedTensors named;
  for (size_t i = 0; i < y.size(); ++i) named.emplace_back(model.outputs()[i].name, y[i]);
  return WriteOutputs(options.output_path, named);
}

// A failed RPC as a Status that names the server (gRPC and absl codes agree).
absl::Status RpcError(const grpc::Status& status, const std::string& server, const char* rpc) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("predict: ", rpc, " on ", server, ": ", status.error_message()));
}

absl::Status PredictRemote(const PredictOptions& options) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(256 << 20);
  arguments.SetMaxSendMessageSize(256 << 20);
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub =
      inference::GRPCInferenceService::NewStub(
          grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), arguments));
  inference::ModelMetadataRequest metadata_request;
  metadata_request.set_name(options.model_path);
  inference::ModelMetadataResponse metadata;
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status status = stub->ModelMetadata(&context, metadata_request, &metadata);
    if (!status.ok()) return RpcError(status, options.server, "ModelMetadata");
  }
  std::vector<std::string> names;
  for (const auto& input : metadata.inputs()) names.push_back(input.name());
  FORNAX_ASSIGN_OR_RETURN(std::vector<Tensor> x, ReadInputs(options.input_path, names));
  inference::ModelInferRequest request;
  request.set_model_name(options.model_path);
  for (int i = 0; i < metadata.inputs_size(); ++i) {
    FORNAX_ASSIGN_OR_RETURN(DType dtype, serving::DTypeFromWire(metadata.inputs(i).datatype()));
    const Tensor value = x[static_cast<size_t>(i)].dtype() == dtype
                             ? x[static_cast<size_t>(i)]
                             : x[static_cast<size_t>(i)].CastTo(dtype);
    auto* input = request.add_inputs();
    input->set_name(names[static_cast<size_t>(i)]);
    input->set_datatype(metadata.inputs(i).datatype());
    for (int64_t d : value.shape().dims()) input->add_shape(d);
    request.add_raw_input_contents()->assign(static_cast<const char*>(value.raw_data()),
                                             value.byte_size());
  }
  inference::ModelInferResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub->ModelInfer(&context, request, &response);
  if (!status.ok()) return RpcError(status, options.server, "ModelInfer");
  NamedTensors y;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& output = response.outputs(i);
    FORNAX_ASSIGN_OR_RETURN(DType dtype, serving::DTypeFromWire(output.datatype()));
    Tensor value(dtype, Shape(std::vector<int64_t>(output.shape().begin(), output.shape().end())));
    if (i >= response.raw_output_contents_size() ||
        response.raw_output_contents(i).size() != value.byte_size()) {
      return absl::DataLossError(absl::StrCat("predict: output '", output.name(), "' from ",
                                              options.server,
                                              " has no raw contents of the size its shape says"));
    }
    std::memcpy(value.raw_data(), response.raw_output_contents(i).data(), value.byte_size());
    y.emplace_back(output.name(), std::move(value));
  }
  return WriteOutputs(options.output_path, y);
}

}  // namespace

int RunPredict(const std::string& coordinator, const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs("predict", args, {"model", "input", "output", "batch-size", "server"}, {"help"});
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
  options.server = parsed->values["server"];
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
  if (options.server.empty() && !absl::EndsWith(options.model_path, ".keras") &&
      !std::filesystem::exists(options.model_path)) {
    absl::StatusOr<ServingTarget> target = FindServingTarget(coordinator, options.model_path);
    if (!target.ok()) return ReportServiceError(target.status());
    options.server = target->endpoint;
    absl::Status status = PredictRemote(options);
    // The deployment's own state explains a failure better than the
    // worker's "unknown model" while it loads there.
    if (!status.ok() && !target->not_ready.ok()) return ReportServiceError(target->not_ready);
    return status.ok() ? kExitOk : ReportError(status);
  }
  absl::Status status = options.server.empty() ? Predict(options) : PredictRemote(options);
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace fornax
