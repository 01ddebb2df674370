#pragma once
#include "core/tensor.h"

namespace trim {

// [M, K] x [K, N] -> [M, N].
Tensor matmul(const Tensor& a, const Tensor& b);

// y = x W^T + b for x [N, in], W [out, in], b [out] (b may be undefined).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

}  // namespace trim
