// The Fornax IR: an SSA graph of primitive ops (engine/ir/ops.def).
//
// Each Node produces one value, named by its ValueId (the node's index).
// Nodes only refer to earlier nodes, so index order is a topological order.
// The Graph owns its nodes; everything else holds ValueIds. Nodes carry a
// static dtype and shape (dim 0 may be the symbolic kBatch). Build graphs with
// Builder (engine/ir/builder.h), which checks shapes; Graph itself does not.
// Thread-safety: none; a graph is built and compiled by one thread.
#ifndef FORNAX_ENGINE_IR_GRAPH_H_
#define FORNAX_ENGINE_IR_GRAPH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor/dtype.h"
#include "engine/tensor/shape.h"
#include "engine/tensor/tensor.h"

namespace fornax {

enum class Op : uint8_t {
#define FORNAX_OP(name, str, arity) k##name,
#include "engine/ir/ops.def"
#undef FORNAX_OP
};

inline constexpr int kNumOps = 0
#define FORNAX_OP(name, str, arity) +1
#include "engine/ir/ops.def"
#undef FORNAX_OP
    ;

std::string_view OpName(Op op);
// Declared input count; -1 for variadic ops.
int OpArity(Op op);

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;

enum class Padding : uint8_t { kValid, kSame };

// A compiled elementwise expression; defined in engine/ir/fused_program.h.
struct FusedProgram;

// Op attributes. Each op reads only the fields ops.def names for it; the rest
// keep their defaults, so two nodes with equal fields are the same op.
struct Attrs {
  int64_t index = 0;          // Input/Variable/Assign slot; RandomUniform stream id
  int64_t axis = 0;           // Concat, Slice, ArgMax, DimSize
  int64_t begin = 0;          // Slice
  int64_t end = 0;            // Slice
  int64_t depth = 0;          // OneHot
  std::vector<int64_t> axes;  // reductions (sorted); Transpose permutation
  bool keepdims = false;      // reductions
  bool transpose_a = false;   // MatMul
  bool transpose_b = false;   // MatMul
  Shape shape;  // Reshape/BroadcastTo target; backprop/scatter/RandomUniform result shape
  std::array<int64_t, 2> window{1, 1};          // pooling
  std::array<int64_t, 2> strides{1, 1};         // conv, pooling
  std::array<int64_t, 2> dilation{1, 1};        // conv
  Padding padding = Padding::kValid;            // conv, pooling
  DType dtype = DType::kFloat32;                // Cast target
  Tensor value;                                 // Constant
  std::vector<Op> epilogue;                     // FusedMatMul/FusedConv2D: unary ops after bias
  bool has_bias = false;                        // FusedMatMul/FusedConv2D
  std::shared_ptr<const FusedProgram> program;  // FusedElementwise
};

struct Node {
  Op op;
  DType dtype = DType::kFloat32;
  Shape shape;
  std::vector<ValueId> inputs;
  Attrs attrs;
  std::string name;  // optional, for printing ("dense_1/kernel")
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = default;
  Graph& operator=(const Graph&) = default;

  // Appends a node whose dtype and shape are already set. REQUIRES: inputs < size().
  ValueId Append(Node node);
  const Node& node(ValueId id) const { return nodes_[static_cast<size_t>(id)]; }
  Node& mutable_node(ValueId id) { return nodes_[static_cast<size_t>(id)]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const std::vector<Node>& nodes() const { return nodes_; }

  // Values the caller reads after a run, in order.
  const std::vector<ValueId>& outputs() const { return outputs_; }
  void AddOutput(ValueId id) { outputs_.push_back(id); }
  void set_outputs(std::vector<ValueId> outputs) { outputs_ = std::move(outputs); }

  // Text form, one node per line: "%5 = add(%3, %4) : float32(None, 10)".
  std::string ToString() const;

 private:
  std::vector<Node> nodes_;
  std::vector<ValueId> outputs_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_IR_GRAPH_H_
