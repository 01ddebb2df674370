#pragma once
#include "core/kernels/params.h"
#include "core/tensor.h"

namespace trim {

// 2-D convolution (cross-correlation, as PyTorch): x [N, C, H, W], w [O, C/groups, kh, kw],
// b [O] or undefined -> [N, O, Ho, Wo]. Supports stride, padding, dilation and groups (depthwise
// when groups == C).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);

}  // namespace trim
