#pragma once
// The accumulating kernels (bias_grad, conv2d_backward_filter, batch_norm_backward and its fused
// ReLU twin) run on fixed inputs with beta = 0 or 1, for the CPU test (beta = 1 equals old +
// fresh) and the CUDA-vs-CPU test.
#include <string>
#include <vector>

#include "core/tensor.h"

namespace trim::test {

// One kernel's output buffers after a call, copied to the host, with what they held before.
struct BetaOutput {
  std::string name;
  std::vector<float> before, after;
};

// Runs every case of the three kernels on `device`. With beta = 1 the outputs start from fixed
// non-zero values; with beta = 0 they start as NaN (the kernel must not read them). batch_norm's
// gx always starts as NaN: it is overwritten whatever param_beta is.
std::vector<BetaOutput> run_beta_kernels(Device device, float beta);

}  // namespace trim::test
