#pragma once
// Weight initialisation, drawing from the default generator (seeded by the app), as in PyTorch.
#include "core/tensor.h"

namespace trim {

// fan_in = dim1 * receptive field, fan_out = dim0 * receptive field (PyTorch's definitions).
int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);

enum class FanMode { fan_in, fan_out };

// N(0, gain^2 / fan) with the ReLU gain sqrt(2).
void kaiming_normal_(Tensor& w, FanMode mode = FanMode::fan_in);

// PyTorch's default for Conv2d and Linear: weight U(-1/sqrt(fan_in), 1/sqrt(fan_in))
// (kaiming_uniform with a = sqrt(5)), bias the same bound (pass an undefined bias to skip it).
void default_init_(Tensor& w, Tensor& bias);

}  // namespace trim
