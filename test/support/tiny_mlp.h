#pragma once
// A fixed two-layer perceptron (32 -> 64 -> 10) and one batch for it, for tests of what happens to
// parameters and gradients (buckets, all-reduces, steps) rather than of what a model learns.
#include <cstdint>
#include <vector>

#include "core/device.h"
#include "core/optim/param_store.h"
#include "core/tensor.h"

namespace trim::test {

// n values scale * ((37 i) mod 101 - 50): deterministic, varied, of both signs.
std::vector<float> pattern(int64_t n, float scale);

struct TinyMlp {
  explicit TinyMlp(Device device = Device::cpu());
  std::vector<OptimParam> params() const;  // fc1.weight, fc1.bias, fc2.weight, fc2.bias
  void backward() const;                   // cross-entropy of a fixed batch of 16, backward
  Device device;
  std::vector<Tensor> p;
};

}  // namespace trim::test
