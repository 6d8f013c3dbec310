// EpilogueFusionPass: folds bias and activation into matmul/convolution.
//
// Afterwards no float32 MatMul (Conv2D) has a single consumer that is an Add
// of a bias of shape (N,) or (1, N) (conv: (O,) or (1, ..., 1, O)) or one of
// Relu/Sigmoid/Tanh: each chain MatMul -> [Add bias] -> [activation]* whose
// intermediates have no other readers became one FusedMatMul (FusedConv2D)
// with inputs (a, b[, bias]), attrs.has_bias and attrs.epilogue, placed where
// the chain ended.
//
// So that autodiff's ReLU gradient does not keep the pre-activation alive,
// it first rewrites Greater(p, 0) to Greater(Relu(p), 0) (equal for every
// float, NaN included) when Relu(p) is computed before the comparison.
#ifndef FORNAX_ENGINE_COMPILER_PASSES_EPILOGUE_FUSION_H_
#define FORNAX_ENGINE_COMPILER_PASSES_EPILOGUE_FUSION_H_

#include "engine/compiler/pass.h"

namespace fornax {

class EpilogueFusionPass final : public Pass {
 public:
  std::string_view name() const override { return "epilogue_fusion"; }
  absl::StatusOr<bool> Run(Graph* graph) override;
};

}  // namespace fornax

#endif  // FORNAX_ENGINE_COMPILER_PASSES_EPILOGUE_FUSION_H_
