// Triton's classification extension: an output requested with the parameter
// "classification": k (gRPC int64_param; HTTP a JSON integer, what
// tritonclient's InferRequestedOutput(name, class_count=k) sends) comes back
// as the top k classes of each batch row instead of the tensor: datatype
// BYTES, shape [batch, min(k, classes)], where a row's classes are all its
// elements after the batch dimension (flattened, as Triton does) and each
// element is the string "<value>:<index>", highest value first. The value
// is printed as Triton prints it (C++ std::to_string: "%f" for FP32, so
// "0.731059", decimal for integers); equal values keep index order (Triton's
// order among ties is unspecified); NaN ranks below every number. Like
// Triton, k above the class count returns every class, and FP16, BF16 and
// BOOL outputs cannot be classified.
//
// Labels: an output whose config.pbtxt entry names a label_filename has its
// strings end in ":<label>", line i of that file being class i's label, as
// Triton reads it: lines end at '\n' only (a '\r' before it stays in the
// label), a final newline adds no label; a class past the last line or
// whose line is empty gets no ":<label>" (Triton's "no label"). The file
// is read when a version loads; one missing or unreadable fails the load.
// Thread-safety: stateless functions.
#ifndef FORNAX_SERVER_INFERENCE_CLASSIFICATION_H_
#define FORNAX_SERVER_INFERENCE_CLASSIFICATION_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/keras/models/model.h"
#include "engine/tensor/tensor.h"
#include "proto/inference/grpc_service.pb.h"
#include "server/inference/model_settings.h"

namespace fornax::serving {

// The class count a requested output's parameters ask for: 0 when they
// have no "classification"; InvalidArgument naming the output when it is
// not a positive integer or `output` is of a datatype that cannot be
// classified.
absl::StatusOr<int64_t> ClassificationCount(
    const google::protobuf::Map<std::string, inference::InferParameter>& parameters,
    const TensorSpec& output);

// The top `count` classes of each row of `output` (of a datatype
// ClassificationCount accepts; dim 0 the batch).
struct Classification {
  std::vector<int64_t> shape;  // [batch, min(count, classes)]
  // The BYTES tensor in the protocol's raw form: per element a 4-byte
  // little-endian length and the string's bytes.
  std::string raw;
};
// `labels`: the output's class labels (none: plain "<value>:<index>").
Classification TopClasses(const Tensor& output, int64_t count,
                          const std::vector<std::string>& labels = {});

// An output's class labels.
struct ClassLabels {
  std::string filename;             // config.pbtxt's label_filename
  std::vector<std::string> labels;  // class i's is labels[i]
};
// A labels file's text split into lines as Triton splits it.
std::vector<std::string> SplitLabels(std::string_view text);
// The labels of each output that `settings` names a labels file for, by
// output name; when one cannot be read, ReadFileToString's error (NotFound
// when it is missing) naming the config file, the output and the path.
absl::StatusOr<std::map<std::string, ClassLabels>> ReadClassLabels(const ModelSettings& settings);

// The strings of a BYTES tensor in raw form (HTTP answers them as JSON).
std::vector<std::string> BytesElements(const std::string& raw);

}  // namespace fornax::serving

#endif  // FORNAX_SERVER_INFERENCE_CLASSIFICATION_H_
