// Test harness for reference kernels: builds one node with Builder (so the
// op's shape rule sets the output shape) on concrete-shaped inputs, then runs
// the reference kernel directly on host tensors.
#ifndef FORNAX_ENGINE_BACKENDS_REFERENCE_REFERENCE_TEST_UTIL_H_
#define FORNAX_ENGINE_BACKENDS_REFERENCE_REFERENCE_TEST_UTIL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "engine/backends/reference/reference_backend.h"
#include "engine/ir/builder.h"

namespace fornax::testing {

// Runs `op` with `attrs` on `inputs` through its reference kernel.
inline absl::StatusOr<Tensor> RunReference(Op op, const std::vector<Tensor>& inputs,
                                           Attrs attrs = {}, uint64_t seed = 0, int64_t step = 0) {
  Graph graph;
  Builder b(&graph);
  std::vector<ValueId> ids;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ids.push_back(b.Input(static_cast<int64_t>(i), inputs[i].dtype(), inputs[i].shape()));
  }
  const ValueId y = b.Emit(op, ids, std::move(attrs));
  if (!b.ok()) return b.status();
  const Node& node = graph.node(y);
  Tensor out(node.dtype, node.shape);
  KernelFn kernel = ReferenceKernel(op);
  if (kernel == nullptr) return absl::NotFoundError("no reference kernel");
  kernel(KernelContext{node, inputs, out, seed, step, 1});
  return out;
}

inline std::vector<float> Floats(const Tensor& t) {
  std::vector<float> v;
  for (int64_t i = 0; i < t.num_elements(); ++i) v.push_back(static_cast<float>(t.GetAsDouble(i)));
  return v;
}

inline std::vector<int64_t> Ints(const Tensor& t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.num_elements(); ++i)
    v.push_back(static_cast<int64_t>(t.GetAsDouble(i)));
  return v;
}

inline Tensor Typed(DType dtype, Shape shape, const std::vector<double>& values) {
  Tensor t(dtype, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i) t.SetFromDouble(static_cast<int64_t>(i), values[i]);
  return t;
}

}  // namespace fornax::testing

#endif  // FORNAX_ENGINE_BACKENDS_REFERENCE_REFERENCE_TEST_UTIL_H_
