#pragma once
// Max and average pooling as per-element rules shared by both backends. Forward computes one
// output per call; backward gathers, for one input element, the gradient of every window that
// covers it, so no two threads write the same element (deterministic, no atomics).
#include <cstdint>

#include "core/base.h"
#include "core/kernels/params.h"

namespace trim::pool {

struct Geom {
  int64_t H, W, Ho, Wo;
  Pool2dParams p;
};

// Index within the plane of the window's first maximum (a NaN wins at once, as in PyTorch).
TRIM_HD int64_t window_argmax(const float* x, const Geom& g, int64_t oh, int64_t ow) {
  int64_t best = -1;
  float v = 0.0f;
  for (int64_t ki = 0; ki < g.p.kernel_h; ++ki) {
    int64_t ih = oh * g.p.stride_h - g.p.pad_h + ki;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kj = 0; kj < g.p.kernel_w; ++kj) {
      int64_t iw = ow * g.p.stride_w - g.p.pad_w + kj;
      if (iw < 0 || iw >= g.W) continue;
      float xv = x[ih * g.W + iw];
      if (xv != xv) return ih * g.W + iw;
      if (best < 0 || xv > v) v = xv, best = ih * g.W + iw;
    }
  }
  return best;
}

// Output rows (or columns) whose windows cover input row i: [lo, hi).
TRIM_HD void covering(int64_t i, int kernel, int stride, int pad, int64_t out, int64_t& lo, int64_t& hi) {
  int64_t a = i + pad - kernel + 1;  // smallest window start that still covers i
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  hi = (i + pad) / stride + 1;
  if (hi > out) hi = out;
}

struct MaxForward {
  const float* x;
  float* y;
  Geom g;
  TRIM_HD void operator()(int64_t i) const {
    int64_t plane = i / (g.Ho * g.Wo), o = i % (g.Ho * g.Wo);
    const float* xp = x + plane * g.H * g.W;
    y[i] = xp[window_argmax(xp, g, o / g.Wo, o % g.Wo)];  // padding <= kernel/2: never empty
  }
};

struct MaxBackward {
  const float *x, *gy;
  float* gx;
  Geom g;
  TRIM_HD void operator()(int64_t j) const {
    int64_t plane = j / (g.H * g.W), in = j % (g.H * g.W), ih = in / g.W, iw = in % g.W;
    const float* xp = x + plane * g.H * g.W;
    const float* gyp = gy + plane * g.Ho * g.Wo;
    int64_t h0, h1, w0, w1;
    covering(ih, g.p.kernel_h, g.p.stride_h, g.p.pad_h, g.Ho, h0, h1);
    covering(iw, g.p.kernel_w, g.p.stride_w, g.p.pad_w, g.Wo, w0, w1);
    float s = 0.0f;
    for (int64_t oh = h0; oh < h1; ++oh)
      for (int64_t ow = w0; ow < w1; ++ow)
        if (window_argmax(xp, g, oh, ow) == in) s += gyp[oh * g.Wo + ow];
    gx[j] = s;
  }
};

struct AvgForward {
  const float* x;
  float* y;
  Geom g;
  TRIM_HD void operator()(int64_t i) const {
    int64_t plane = i / (g.Ho * g.Wo), o = i % (g.Ho * g.Wo), oh = o / g.Wo, ow = o % g.Wo;
    const float* xp = x + plane * g.H * g.W;
    float s = 0.0f;
    for (int64_t ki = 0; ki < g.p.kernel_h; ++ki) {
      int64_t ih = oh * g.p.stride_h - g.p.pad_h + ki;
      if (ih < 0 || ih >= g.H) continue;
      for (int64_t kj = 0; kj < g.p.kernel_w; ++kj) {
        int64_t iw = ow * g.p.stride_w - g.p.pad_w + kj;
        if (iw >= 0 && iw < g.W) s += xp[ih * g.W + iw];
      }
    }
    y[i] = s / float(g.p.kernel_h * g.p.kernel_w);
  }
};

struct AvgBackward {
  const float* gy;
  float* gx;
  Geom g;
  TRIM_HD void operator()(int64_t j) const {
    int64_t plane = j / (g.H * g.W), in = j % (g.H * g.W), ih = in / g.W, iw = in % g.W;
    const float* gyp = gy + plane * g.Ho * g.Wo;
    int64_t h0, h1, w0, w1;
    covering(ih, g.p.kernel_h, g.p.stride_h, g.p.pad_h, g.Ho, h0, h1);
    covering(iw, g.p.kernel_w, g.p.stride_w, g.p.pad_w, g.Wo, w0, w1);
    float s = 0.0f;
    for (int64_t oh = h0; oh < h1; ++oh)
      for (int64_t ow = w0; ow < w1; ++ow) s += gyp[oh * g.Wo + ow];
    gx[j] = s / float(g.p.kernel_h * g.p.kernel_w);
  }
};

}  // namespace trim::pool
