// Builder: the only way layers, losses, optimizers and gradient rules emit IR.
//
// Every method checks its inputs with the op's shape rule. Errors are sticky
// (like an ostream's failbit): the first failure is kept in status(), later
// calls return kNoValue without emitting, and callers check status() once per
// layer to attach context ("layer 'dense_2': ..."). This keeps layer code
// pure math, as in Keras's call().
// Thread-safety: none.
#ifndef FORNAX_ENGINE_IR_BUILDER_H_
#define FORNAX_ENGINE_IR_BUILDER_H_

#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/ir/graph.h"

namespace fornax {

class Builder {
 public:
  explicit Builder(Graph* graph) : graph_(graph) {}

  Graph* graph() const { return graph_; }
  const absl::Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }
  // Records `status` if no error is recorded yet.
  void Fail(absl::Status status);
  // Clears the error and returns it (for callers that add context and retry).
  absl::Status TakeStatus();

  // These references die with the next emission (the graph's node vector
  // grows): copy what you need before emitting more.
  const Node& node(ValueId v) const { return graph_->node(v); }
  const Shape& shape(ValueId v) const { return graph_->node(v).shape; }
  DType dtype(ValueId v) const { return graph_->node(v).dtype; }
  int rank(ValueId v) const { return shape(v).rank(); }

  // Generic emission: runs the op's shape rule, appends the node.
  ValueId Emit(Op op, std::vector<ValueId> inputs, Attrs attrs = {}, std::string name = "");

  // Leaves.
  ValueId Input(int64_t index, DType dtype, Shape shape, std::string name = "");
  ValueId Variable(int64_t index, DType dtype, Shape shape, std::string name = "");
  ValueId Constant(Tensor value);
  // A rank-0 Constant. Binary ops treat rank-0 constants as weakly typed (as
  // JAX does): Mul(float16 x, Scalar(2.0)) stays float16.
  ValueId Scalar(double value, DType dtype = DType::kFloat32);
  // `shape` filled with `value`: a Scalar broadcast to `shape`, which may
  // contain kBatch.
  ValueId Fill(double value, DType dtype, Shape shape);
  ValueId RandomUniform(Shape shape, int64_t stream);
  ValueId DimSize(ValueId x, int64_t axis);

  // Elementwise. Binary and Where promote mixed dtypes by inserting Cast:
  // bool < uint8 < int32 < int64 < float16/bfloat16 < float32 (float16 with
  // bfloat16 gives float32). Comparisons and logic give bool.
  ValueId Unary(Op op, ValueId x);
  ValueId Binary(Op op, ValueId a, ValueId b);
  ValueId Neg(ValueId x) { return Unary(Op::kNeg, x); }
  ValueId Exp(ValueId x) { return Unary(Op::kExp, x); }
  ValueId Log(ValueId x) { return Unary(Op::kLog, x); }
  ValueId Sqrt(ValueId x) { return Unary(Op::kSqrt, x); }
  ValueId Relu(ValueId x) { return Unary(Op::kRelu, x); }
  ValueId Sigmoid(ValueId x) { return Unary(Op::kSigmoid, x); }
  ValueId Tanh(ValueId x) { return Unary(Op::kTanh, x); }
  ValueId Abs(ValueId x) { return Unary(Op::kAbs, x); }
  ValueId Add(ValueId a, ValueId b) { return Binary(Op::kAdd, a, b); }
  ValueId Sub(ValueId a, ValueId b) { return Binary(Op::kSub, a, b); }
  ValueId Mul(ValueId a, ValueId b) { return Binary(Op::kMul, a, b); }
  ValueId Div(ValueId a, ValueId b) { return Binary(Op::kDiv, a, b); }
  ValueId Maximum(ValueId a, ValueId b) { return Binary(Op::kMaximum, a, b); }
  ValueId Minimum(ValueId a, ValueId b) { return Binary(Op::kMinimum, a, b); }
  ValueId Pow(ValueId a, ValueId b) { return Binary(Op::kPow, a, b); }
  ValueId Square(ValueId x) { return Mul(x, x); }
  ValueId Where(ValueId cond, ValueId a, ValueId b);
  ValueId Cast(ValueId x, DType dtype);

  // Reductions. Negative axes count from the end; axes are normalized.
  ValueId Sum(ValueId x, std::vector<int64_t> axes, bool keepdims = false);
  ValueId Mean(ValueId x, std::vector<int64_t> axes, bool keepdims = false);
  ValueId Max(ValueId x, std::vector<int64_t> axes, bool keepdims = false);
  ValueId ArgMax(ValueId x, int64_t axis);
  // All axes.
  ValueId SumAll(ValueId x);
  ValueId MeanAll(ValueId x);

  // Shape and data movement.
  // In `shape`, a leading -1 is kBatch when x's batch dim leads; one other
  // -1 (any one, for an unbatched x) stands for the dim that keeps the
  // element count, as in NumPy: Reshape(x, {kBatch, -1, 4}).
  ValueId Reshape(ValueId x, Shape shape);
  ValueId Transpose(ValueId x, std::vector<int64_t> perm);
  ValueId BroadcastTo(ValueId x, Shape shape);
  ValueId Concat(std::vector<ValueId> xs, int64_t axis);
  ValueId Slice(ValueId x, int64_t axis, int64_t begin, int64_t end);
  ValueId Gather(ValueId params, ValueId indices);
  ValueId OneHot(ValueId indices, int64_t depth);

  // Linear algebra and images (NHWC / HWIO).
  ValueId MatMul(ValueId a, ValueId b, bool transpose_a = false, bool transpose_b = false);
  ValueId Conv2D(ValueId x, ValueId w, std::array<int64_t, 2> strides, Padding padding,
                 std::array<int64_t, 2> dilation = {1, 1});
  ValueId MaxPool2D(ValueId x, std::array<int64_t, 2> window, std::array<int64_t, 2> strides,
                    Padding padding);
  ValueId AvgPool2D(ValueId x, std::array<int64_t, 2> window, std::array<int64_t, 2> strides,
                    Padding padding);

  // Composites built from primitives (no gradient rule of their own).
  ValueId Softmax(ValueId x, int64_t axis = -1);
  ValueId LogSoftmax(ValueId x, int64_t axis = -1);
  ValueId Softplus(ValueId x);

  // Side effect: variable #index := value (kept alive by dead-code elimination).
  ValueId Assign(int64_t index, ValueId value);

 private:
  // Runs the op's shape rule on `node` and appends it.
  ValueId EmitNode(Node node);
  // False (with the error recorded) when status is not ok or `v` is no value.
  bool Valid(ValueId v);
  // Normalizes a possibly negative axis of `x` for `op`; false on error.
  bool NormalizeAxis(Op op, ValueId x, int64_t* axis);
  ValueId Reduce(Op op, ValueId x, std::vector<int64_t> axes, bool keepdims);
  // Casts a and b to a common dtype (see Binary).
  void Promote(ValueId* a, ValueId* b);

  Graph* graph_;
  absl::Status status_;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_IR_BUILDER_H_
