// Internal to engine/keras/layers: the table of Keras operations
// (operation_defs.cc) that the Operation layer (operation.cc) dispatches to.
#ifndef FORNAX_ENGINE_KERAS_LAYERS_OPERATION_DEFS_H_
#define FORNAX_ENGINE_KERAS_LAYERS_OPERATION_DEFS_H_

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/ir/builder.h"
#include "engine/keras/config_util.h"

namespace fornax {

// One positional argument of an operation call, resolved to IR values: a
// tensor or an emitted Python scalar, or (Concatenate, Stack) a list of them.
struct OpValue {
  ValueId value = kNoValue;
  std::vector<ValueId> list;
  bool is_list = false;
};

// The operation's constructor arguments (its "config"), as each op reads them.
struct OpAttrs {
  std::optional<std::vector<int64_t>> axes;  // axis / axes; nullopt = None
  bool keepdims = false;
  std::optional<DType> dtype;  // Cast (required), ZerosLike / OnesLike
  std::vector<int64_t> shape;  // Reshape's newshape
  double low = 0, high = 0;    // Clip
};

using OpParse = absl::Status (*)(const ConfigView& cfg, OpAttrs* attrs);
// Emits the operation; errors are recorded in `b` (b.Fail).
using OpEmit = ValueId (*)(Builder& b, const OpAttrs& attrs, std::span<const OpValue> args);

struct OperationDef {
  const char* class_name;
  int num_args;   // positional arguments Keras passes
  bool list_arg;  // the single argument is a list of tensors
  OpParse parse;  // null: no constructor arguments to read
  OpEmit emit;
};

// The operation of that class name, or null.
const OperationDef* FindOperationDef(const std::string& class_name);
std::vector<std::string> OperationClassNames();  // sorted

}  // namespace fornax

#endif  // FORNAX_ENGINE_KERAS_LAYERS_OPERATION_DEFS_H_
