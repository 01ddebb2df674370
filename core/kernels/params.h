#pragma once
// Plain parameter structs shared by the op layer and both backends.
#include <cstdint>

#include "core/random/key.h"  // RandomKey, taken by the random kernels

namespace trim {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  int dil_h = 1, dil_w = 1;
  int groups = 1;
};

class Tensor;

// The outputs of conv2d_backward (kernel_list.inc): a null pointer is a gradient not wanted; beta_w
// and beta_b are the accumulation factors (0 or 1) of gw and gb.
struct ConvGrads {
  Tensor* gx = nullptr;
  Tensor* gw = nullptr;
  float beta_w = 0.0f;
  Tensor* gb = nullptr;
  float beta_b = 0.0f;
};

struct Pool2dParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 2, stride_w = 2;
  int pad_h = 0, pad_w = 0;
};

// Output size of a strided window along one axis (PyTorch's floor rule).
constexpr int64_t window_out(int64_t in, int kernel, int stride, int pad, int dilation = 1) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// y = x * scale[c] + shift[c] per channel c of a [N, C, ...] tensor; up to 4 channels (images).
struct ChannelAffine {
  static constexpr int kMaxChannels = 4;
  int channels = 1;
  float scale[kMaxChannels] = {1, 1, 1, 1};
  float shift[kMaxChannels] = {0, 0, 0, 0};
};

}  // namespace trim
