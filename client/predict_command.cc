// `fornax predict`: runs a .keras archive's model on arrays from .npy/.npz
// and writes its outputs to .npy/.npz; with --server, asks a `fornax serve`
// (or any Open Inference Protocol server) to run a served model instead, and
// a --model that names no file is a deployment the coordinator knows.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
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
                      [--output Y.npy|Y.npz] [--batch-size N]
       fornax predict --server HOST:PORT --model NAME --input X [--output Y]
       fornax [--coordinator ADDR] predict --model NAME --input X [--output Y]

Loads a Keras 3 .keras archive (written by Keras or by `fornax train
--output`) and runs model.predict on the input arrays. With --server, sends
the arrays to a `fornax serve` (or Triton) instead, in ModelInfer calls of
the served model's max_batch_size rows, cast to its input datatypes, and
joins the answers. When --model is no file (and does not end in .keras), it
names a deployment (`fornax deploy`): the coordinator says which replica is
READY, and the calls go there as with --server (all to that version).
During a redeploy or a move to another worker the previous replica answers
until the new one is READY. When no replica is READY (a first load, a
worker that was lost), the one named stops answering or the coordinator
cannot be reached (a restart, a wrong --coordinator), predict asks again
until --wait-timeout.

  --model FILE     the .keras archive (with --server: the served model's name;
                   else a deployment's name when no such file exists)
  --server ADDR    an Open Inference Protocol gRPC server, e.g. 127.0.0.1:8001
  --input FILE     .npy for a single-input model; .npz with one array per
                   model input, keyed by input name
  --output FILE    .npy for a single-output model's predictions; .npz keyed
                   by output name (any number of outputs); without it the
                   predictions are printed: a "# NAME (SHAPE) DTYPE" line per
                   output, then one line of values per sample
  --batch-size N   samples per step (default 32); with a server, rows per
                   ModelInfer call (default: the model's max_batch_size)
  --wait-timeout SECONDS
                   with a deployment: how long to wait for a READY replica
                   and for the coordinator (default 30; 0: fail at once)
)";

namespace {

struct PredictOptions {
  std::string server;
  std::string model_path;
  std::string input_path;
  std::string output_path;
  std::string model_version;  // "": the server's serving version
  int64_t batch_size = 32;
  bool batch_size_given = false;
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

// The --input arrays for a model's input names, read from the file once and
// reused: a deployment's retry asks another replica (or version) for its
// metadata again, and only inputs named otherwise there are read again.
class InputCache {
 public:
  explicit InputCache(std::string path) : path_(std::move(path)) {}
  // Copies share the arrays' buffers.
  absl::StatusOr<std::vector<Tensor>> For(const std::vector<std::string>& names) {
    if (!arrays_ || names != names_) {
      FORNAX_ASSIGN_OR_RETURN(arrays_, ReadInputs(path_, names));
      names_ = names;
    }
    return *arrays_;
  }

 private:
  const std::string path_;
  std::vector<std::string> names_;
  std::optional<std::vector<Tensor>> arrays_;
};

// Without --output: every output as text on stdout, a header line then one
// line per row (its values flattened, as numpy.savetxt writes a 2-D array).
void PrintOutputs(const NamedTensors& y) {
  for (const auto& [name, value] : y) {
    std::cout << "# " << name << " " << value.shape().ToString() << " " << DTypeName(value.dtype())
              << "\n";
    const int64_t rows = value.shape().rank() > 0 ? value.shape().dim(0) : 1;
    const int64_t per_row = rows > 0 ? value.num_elements() / rows : 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < per_row; ++i) {
        std::cout << (i ? " " : "") << absl::StrFormat("%.7g", value.GetAsDouble(r * per_row + i));
      }
      std::cout << "\n";
    }
  }
}

absl::Status WriteOutputs(const std::string& path, const NamedTensors& y) {
  if (path.empty()) {
    PrintOutputs(y);
    return absl::OkStatus();
  }
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

// Marks a status as the server's answer, not a local error (a file).
constexpr char kFromServer[] = "type.fornax/predict.from_server";

// A failed RPC as a Status that names the server (gRPC and absl codes agree).
absl::Status RpcError(const grpc::Status& status, const std::string& server, const char* rpc) {
  absl::Status error(static_cast<absl::StatusCode>(status.error_code()),
                     absl::StrCat("predict: ", rpc, " on ", server, ": ", status.error_message()));
  error.SetPayload(kFromServer, absl::Cord());
  return error;
}

// A deployment's replica that went away (UNAVAILABLE: it is gone or
// shutting down; CANCELLED: it shut down with the call in flight) or no
// longer serves that model or version (NOT_FOUND: it moved, or a newer
// version replaced it): another replica may answer.
bool ReplicaGone(const absl::Status& status) {
  return status.GetPayload(kFromServer).has_value() &&
         (absl::IsUnavailable(status) || absl::IsCancelled(status) || absl::IsNotFound(status));
}

// Rows per ModelInfer call: the served model's max_batch_size (0 when it
// does not batch: everything in one call), capped by --batch-size if given.
absl::StatusOr<int64_t> RowsPerCall(inference::GRPCInferenceService::Stub& stub,
                                    const PredictOptions& options, int64_t rows) {
  inference::ModelConfigRequest request;
  request.set_name(options.model_path);
  request.set_version(options.model_version);
  inference::ModelConfigResponse response;
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context);
  grpc::Status status = stub.ModelConfig(&context, request, &response);
  if (!status.ok()) return RpcError(status, options.server, "ModelConfig");
  int64_t per_call = response.config().max_batch_size() > 0 ? response.config().max_batch_size()
                                                            : std::max<int64_t>(rows, 1);
  if (options.batch_size_given) per_call = std::min(per_call, options.batch_size);
  return per_call;
}

// One ModelInfer call on rows [begin, end) of every input.
absl::StatusOr<inference::ModelInferResponse> InferRows(
    inference::GRPCInferenceService::Stub& stub, const PredictOptions& options,
    const inference::ModelMetadataResponse& metadata, const std::vector<Tensor>& x, int64_t begin,
    int64_t end) {
  inference::ModelInferRequest request;
  request.set_model_name(options.model_path);
  request.set_model_version(options.model_version);
  for (int i = 0; i < metadata.inputs_size(); ++i) {
    const Tensor value = x[static_cast<size_t>(i)].SliceRows(begin, end);
    auto* input = request.add_inputs();
    input->set_name(metadata.inputs(i).name());
    input->set_datatype(metadata.inputs(i).datatype());
    for (int64_t d : value.shape().dims()) input->add_shape(d);
    request.add_raw_input_contents()->assign(static_cast<const char*>(value.raw_data()),
                                             value.byte_size());
  }
  inference::ModelInferResponse response;
  grpc::ClientContext context;
  ServiceClient::SetDeadline(&context, std::chrono::seconds(300));
  grpc::Status status = stub.ModelInfer(&context, request, &response);
  if (!status.ok()) return RpcError(status, options.server, "ModelInfer");
  return response;
}

absl::Status PredictRemote(const PredictOptions& options, InputCache& inputs) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(256 << 20);
  arguments.SetMaxSendMessageSize(256 << 20);
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub =
      inference::GRPCInferenceService::NewStub(
          grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), arguments));
  inference::ModelMetadataRequest metadata_request;
  metadata_request.set_name(options.model_path);
  metadata_request.set_version(options.model_version);
  inference::ModelMetadataResponse metadata;
  {
    grpc::ClientContext context;
    ServiceClient::SetDeadline(&context);
    grpc::Status status = stub->ModelMetadata(&context, metadata_request, &metadata);
    if (!status.ok()) return RpcError(status, options.server, "ModelMetadata");
  }
  std::vector<std::string> names;
  for (const auto& input : metadata.inputs()) names.push_back(input.name());
  FORNAX_ASSIGN_OR_RETURN(std::vector<Tensor> x, inputs.For(names));
  int64_t rows = -1;
  for (size_t i = 0; i < x.size(); ++i) {
    FORNAX_ASSIGN_OR_RETURN(DType dtype, serving::DTypeFromWire(metadata.inputs(i).datatype()));
    if (x[i].dtype() != dtype) x[i] = x[i].CastTo(dtype);
    const int64_t n = x[i].shape().rank() > 0 ? x[i].shape().dims()[0] : 0;
    if (n < 1 || (rows >= 0 && n != rows)) {
      return absl::InvalidArgumentError(
          absl::StrCat("predict: --input ", options.input_path, ": input '", names[i],
                       "' must have the same positive number of rows as the others; got shape ",
                       x[i].shape().ToString()));
    }
    rows = n;
  }
  FORNAX_ASSIGN_OR_RETURN(const int64_t per_call, RowsPerCall(*stub, options, rows));
  // Each output's rows as they come back, then joined along the batch axis.
  std::vector<std::string> output_names;
  std::vector<std::vector<Tensor>> parts;
  for (int64_t begin = 0; begin < rows; begin += per_call) {
    const int64_t end = std::min(rows, begin + per_call);
    FORNAX_ASSIGN_OR_RETURN(inference::ModelInferResponse response,
                            InferRows(*stub, options, metadata, x, begin, end));
    parts.resize(static_cast<size_t>(response.outputs_size()));
    for (int i = 0; i < response.outputs_size(); ++i) {
      const auto& output = response.outputs(i);
      if (begin == 0) output_names.push_back(output.name());
      FORNAX_ASSIGN_OR_RETURN(DType dtype, serving::DTypeFromWire(output.datatype()));
      Tensor value(dtype,
                   Shape(std::vector<int64_t>(output.shape().begin(), output.shape().end())));
      // Every call's answer must stack on the first one's.
      const std::vector<Tensor>& earlier = parts[static_cast<size_t>(i)];
      const bool stacks = earlier.empty() ||
                          (value.dtype() == earlier[0].dtype() &&
                           value.shape().rank() == earlier[0].shape().rank() &&
                           std::equal(value.shape().dims().begin() + 1, value.shape().dims().end(),
                                      earlier[0].shape().dims().begin() + 1));
      if (i >= response.raw_output_contents_size() ||
          response.raw_output_contents(i).size() != value.byte_size() ||
          value.shape().rank() == 0 || value.shape().dims()[0] != end - begin || !stacks) {
        return absl::DataLossError(
            absl::StrCat("predict: output '", output.name(), "' from ", options.server,
                         " has no raw contents of the size its shape says, not ", end - begin,
                         " rows, or another datatype or shape than its first answer"));
      }
      std::memcpy(value.raw_data(), response.raw_output_contents(i).data(), value.byte_size());
      parts[static_cast<size_t>(i)].push_back(std::move(value));
    }
  }
  NamedTensors y;
  for (size_t i = 0; i < parts.size(); ++i) {
    y.emplace_back(output_names[i], Tensor::ConcatRows(parts[i]));
  }
  return WriteOutputs(options.output_path, y);
}

// --model NAME, a deployment: predicts on the replica the coordinator says
// is READY, pinned to its version; when none is, or the one named went away
// meanwhile, asks again until `wait` has passed.
absl::Status PredictDeployment(const std::string& coordinator, PredictOptions options,
                               absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  InputCache inputs(options.input_path);
  std::string last_failure;
  for (;;) {
    FORNAX_ASSIGN_OR_RETURN(ServingTarget target, FindServingTarget(coordinator, options.model_path,
                                                                    deadline, last_failure));
    options.server = target.endpoint;
    options.model_version = absl::StrCat(target.version);
    absl::Status status = PredictRemote(options, inputs);
    if (status.ok() || !ReplicaGone(status)) return status;
    if (absl::Now() >= deadline) {
      return absl::Status(status.code(), absl::StrCat("deployment '", options.model_path,
                                                      "': no replica answered within "
                                                      "--wait-timeout; last try: ",
                                                      status.message()));
    }
    last_failure = std::string(status.message());
    absl::SleepFor(absl::Milliseconds(50));  // the coordinator hears of the change meanwhile
  }
}

}  // namespace

int RunPredict(const std::string& coordinator, const std::vector<std::string>& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs("predict", args,
                {"model", "input", "output", "batch-size", "server", "wait-timeout"}, {"help"});
  if (!parsed.ok()) return ReportError(parsed.status());
  if (parsed->switches.count("help")) {
    std::cout << kPredictHelp;
    return kExitOk;
  }
  PredictOptions options;
  for (const char* flag : {"model", "input"}) {
    if (!parsed->values.count(flag)) {
      return ReportError(absl::InvalidArgumentError(absl::StrCat(
          "predict: --", flag,
          " is required (usage: fornax predict --model FILE.keras --input X [--output Y])")));
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
    options.batch_size_given = true;
    if (!absl::SimpleAtoi(value, &options.batch_size) || options.batch_size < 1) {
      return ReportError(absl::InvalidArgumentError(
          absl::StrCat("predict: --batch-size: expected a positive integer, got '", value, "'")));
    }
  }
  int64_t wait_s = 30;
  if (parsed->values.count("wait-timeout")) {
    const std::string& value = parsed->values["wait-timeout"];
    if (!absl::SimpleAtoi(value, &wait_s) || wait_s < 0 || wait_s > 86400) {
      return ReportError(absl::InvalidArgumentError(absl::StrCat(
          "predict: --wait-timeout: expected seconds in [0, 86400], got '", value, "'")));
    }
  }
  if (options.server.empty() && !absl::EndsWith(options.model_path, ".keras") &&
      !std::filesystem::exists(options.model_path)) {
    absl::Status status = PredictDeployment(coordinator, options, absl::Seconds(wait_s));
    return status.ok() ? kExitOk : ReportServiceError(status);
  }
  InputCache inputs(options.input_path);
  absl::Status status = options.server.empty() ? Predict(options) : PredictRemote(options, inputs);
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace fornax
