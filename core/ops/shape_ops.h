#pragma once
#include "core/tensor.h"

namespace trim {

// Differentiable views: same data, new shape (same number of elements).
Tensor reshape(const Tensor& x, const Shape& shape);
// [N, d1, d2, ...] -> [N, d1 * d2 * ...].
Tensor flatten(const Tensor& x);

}  // namespace trim
