#pragma once
#include "core/tensor.h"

namespace trim {

// The option-A shortcut of the CIFAR ResNets (He et al. 2016): x[:, :, ::stride, ::stride] with
// `pad_before` zero channels in front and zeros after, up to `out_channels`
// (out_channels >= pad_before + C). x [N, C, H, W] -> [N, out_channels, ceil(H / s), ceil(W / s)].
// Differentiable in x.
Tensor shortcut_a(const Tensor& x, int stride, int64_t pad_before, int64_t out_channels);

// Adaptive average pooling to [N, C, out_h, out_w] with PyTorch's windows: output row i averages
// input rows [floor(i H / out_h), ceil((i + 1) H / out_h)), likewise columns. An output larger
// than the input repeats input elements (torchvision's AlexNet and VGG at small inputs).
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace trim
