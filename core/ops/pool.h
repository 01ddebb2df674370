#pragma once
#include "core/kernels/params.h"
#include "core/tensor.h"

namespace trim {

// Max / average pooling over [N, C, H, W] (floor output size; average pooling divides by the
// full window, padding included, as PyTorch's default). Padding must be at most half the window.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);

}  // namespace trim
