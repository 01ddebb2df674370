#pragma once
// Per-element rules of the option-A shortcut (strided subsample + zero channel padding, the CIFAR
// ResNets' parameter-free shortcut) and of adaptive average pooling. Both directions are gathers:
// each output element is computed by one thread and written once, so the CUDA kernels need no
// atomics and match the CPU bit for bit.
#include <cstdint>

#include "core/base.h"

namespace trim::resample {

// x [N, Cx, H, W] -> y [N, Cy, Ho, Wo] with Ho = ceil(H / s): run over (n * Cy + c, i, j).
struct ShortcutAForward {
  const float* x;
  float* y;
  int64_t Cx, Cy, H, W, Ho, Wo, pad;
  int s;
  TRIM_HD void operator()(int64_t plane, int64_t i, int64_t j) const {
    int64_t n = plane / Cy, c = plane % Cy - pad;
    float v = 0.0f;
    if (c >= 0 && c < Cx) v = x[((n * Cx + c) * H + i * s) * W + j * s];
    y[(plane * Ho + i) * Wo + j] = v;
  }
};

// The adjoint: over (n * Cx + c, h, w); an input element read by the forward gets its output's
// gradient, every other element 0.
struct ShortcutABackward {
  const float* gy;
  float* gx;
  int64_t Cx, Cy, H, W, Ho, Wo, pad;
  int s;
  TRIM_HD void operator()(int64_t plane, int64_t h, int64_t w) const {
    int64_t n = plane / Cx, c = plane % Cx + pad;
    float v = 0.0f;
    if (h % s == 0 && w % s == 0) v = gy[((n * Cy + c) * Ho + h / s) * Wo + w / s];
    gx[(plane * H + h) * W + w] = v;
  }
};

// PyTorch's adaptive window along one axis: output index i of `out` covers input [start, end).
TRIM_HD int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
TRIM_HD int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// Over (plane, oh, ow): the mean of the window, summed in row-major order.
struct AdaptiveAvgForward {
  const float* x;
  float* y;
  int64_t H, W, Ho, Wo;
  TRIM_HD void operator()(int64_t plane, int64_t oh, int64_t ow) const {
    int64_t h0 = adaptive_start(oh, H, Ho), h1 = adaptive_end(oh, H, Ho);
    int64_t w0 = adaptive_start(ow, W, Wo), w1 = adaptive_end(ow, W, Wo);
    const float* xp = x + plane * H * W;
    float s = 0.0f;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += xp[h * W + w];
    y[(plane * Ho + oh) * Wo + ow] = s / float((h1 - h0) * (w1 - w0));
  }
};

// Over (plane, h, w): the sum of gy / window size over the windows that contain (h, w). Windows
// containing row h start at output row floor(h Ho / H) and are consecutive.
struct AdaptiveAvgBackward {
  const float* gy;
  float* gx;
  int64_t H, W, Ho, Wo;
  TRIM_HD void operator()(int64_t plane, int64_t h, int64_t w) const {
    const float* gp = gy + plane * Ho * Wo;
    float s = 0.0f;
    for (int64_t oh = (h * Ho) / H; oh < Ho && adaptive_start(oh, H, Ho) <= h; ++oh) {
      int64_t h0 = adaptive_start(oh, H, Ho), h1 = adaptive_end(oh, H, Ho);
      if (h >= h1) continue;
      for (int64_t ow = (w * Wo) / W; ow < Wo && adaptive_start(ow, W, Wo) <= w; ++ow) {
        int64_t w0 = adaptive_start(ow, W, Wo), w1 = adaptive_end(ow, W, Wo);
        if (w >= w1) continue;
        s += gp[oh * Wo + ow] / float((h1 - h0) * (w1 - w0));
      }
    }
    gx[(plane * H + h) * W + w] = s;
  }
};

}  // namespace trim::resample
