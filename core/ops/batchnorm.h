#pragma once
#include "core/tensor.h"

namespace trim {

// Batch normalisation over (N, H, W) per channel of x [N, C, H, W] (or [N, C]).
// training: normalises with the batch's statistics and updates running_mean / running_var in
//   place (running = (1 - momentum) * running + momentum * batch; variance unbiased), as PyTorch.
// otherwise: normalises with the running statistics, which backward treats as constants.
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                  Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

// relu(batch_norm(...)) with the same arguments and the same values and gradients, bit for bit. In
// training on the CPU it is one fused kernel each way (one pass over the activations instead of
// two, and no intermediate tensor); on CUDA it composes cuDNN's batch norm with the ReLU kernel
// (in place forward; backward masks gy into one temporary of its size); in evaluation mode it is
// the two ops.
Tensor batch_norm_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                       Tensor& running_var, bool training, float momentum = 0.1f, float eps = 1e-5f);

}  // namespace trim
