#pragma once
// Time folding (spiking/README.md#direct-encoding): per-step layers (conv, batch norm, pooling,
// linear) run once over all steps by folding [T, N, ...] into [T·N, ...], so batch-norm statistics
// are taken over T·N, as SpikingJelly's multi-step layers and SeqToANNContainer do. Both
// directions are differentiable views (no copy).
#include <cstdint>

#include "core/tensor.h"
#include "layers/module.h"

namespace trim::spiking {

// [T, N, d...] -> [T·N, d...]. x must have at least 2 dimensions.
Tensor fold_time(const Tensor& x);

// [T·N, d...] -> [T, N, d...]; the first dimension must be a multiple of T, and there must be
// room for one more dimension (Shape::kMaxDims).
Tensor unfold_time(const Tensor& x, int64_t T);

// m applied to every step of x [T, N, ...] in one call over [T·N, ...]; returns [T, N, ...].
Tensor seq_to_ann(Module& m, const Tensor& x);

}  // namespace trim::spiking
