#pragma once
#include "core/tensor.h"

namespace trim {

// Sum / mean of all elements, as a 0-dimensional tensor (deterministic order).
Tensor sum(const Tensor& x);
Tensor mean(const Tensor& x);

// [N, C, H, W] -> [N, C]: the mean of each channel plane.
Tensor global_avg_pool(const Tensor& x);

}  // namespace trim
