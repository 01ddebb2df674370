#pragma once
// Max and average pooling as per-element rules. Forward computes one output (plane, oh, ow); max
// pooling also records the argmax (index within the plane) for backward. Backward comes in two
// forms that compute the same thing: a gather per input element (every thread writes only its own
// element: deterministic on CUDA without atomics) and, for max pooling, a scatter per plane (one
// CPU thread per plane, no index arithmetic per element).
#include <cstdint>

#include "core/base.h"
#include "core/kernels/params.h"

namespace trim::pool {

struct Geom {
  int64_t H, W, Ho, Wo;
  Pool2dParams p;
};

// Output rows (or columns) whose windows cover input row i: [lo, hi).
TRIM_HD void covering(int64_t i, int kernel, int stride, int pad, int64_t out, int64_t& lo, int64_t& hi) {
  int64_t a = i + pad - kernel + 1;  // smallest window start that still covers i
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  hi = (i + pad) / stride + 1;
  if (hi > out) hi = out;
}

// The part of window (oh, ow) inside the image: rows [h0, h1), columns [w0, w1).
TRIM_HD void window(const Geom& g, int64_t oh, int64_t ow, int64_t& h0, int64_t& h1, int64_t& w0, int64_t& w1) {
  h0 = oh * g.p.stride_h - g.p.pad_h, w0 = ow * g.p.stride_w - g.p.pad_w;
  h1 = h0 + g.p.kernel_h < g.H ? h0 + g.p.kernel_h : g.H;
  w1 = w0 + g.p.kernel_w < g.W ? w0 + g.p.kernel_w : g.W;
  h0 = h0 < 0 ? 0 : h0;
  w0 = w0 < 0 ? 0 : w0;
}

// The window's first maximum; a NaN wins and stays (as in PyTorch). Padding <= kernel/2 guarantees
// a non-empty window.
struct MaxForward {
  const float* x;
  float* y;
  int32_t* idx;
  Geom g;
  TRIM_HD void operator()(int64_t plane, int64_t oh, int64_t ow) const {
    const float* xp = x + plane * g.H * g.W;
    int64_t h0, h1, w0, w1;
    window(g, oh, ow, h0, h1, w0, w1);
    int64_t best = h0 * g.W + w0;
    float v = xp[best];
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) {
        float xv = xp[ih * g.W + iw];
        if (xv > v || (xv != xv && v == v)) v = xv, best = ih * g.W + iw;
      }
    int64_t o = (plane * g.Ho + oh) * g.Wo + ow;
    y[o] = v;
    idx[o] = int32_t(best);
  }
};

// Gather: input element (plane, ih, iw) sums the gradients of the windows whose argmax it is.
struct MaxBackwardGather {
  const int32_t* idx;
  const float* gy;
  float* gx;
  Geom g;
  TRIM_HD void operator()(int64_t plane, int64_t ih, int64_t iw) const {
    int64_t h0, h1, w0, w1, in = ih * g.W + iw;
    covering(ih, g.p.kernel_h, g.p.stride_h, g.p.pad_h, g.Ho, h0, h1);
    covering(iw, g.p.kernel_w, g.p.stride_w, g.p.pad_w, g.Wo, w0, w1);
    const int32_t* ip = idx + plane * g.Ho * g.Wo;
    const float* gp = gy + plane * g.Ho * g.Wo;
    float s = 0.0f;
    for (int64_t oh = h0; oh < h1; ++oh)
      for (int64_t ow = w0; ow < w1; ++ow)
        if (ip[oh * g.Wo + ow] == in) s += gp[oh * g.Wo + ow];
    gx[plane * g.H * g.W + in] = s;
  }
};

// Scatter: one plane, its outputs in order.
struct MaxBackwardPlane {
  const int32_t* idx;
  const float* gy;
  float* gx;
  Geom g;
  TRIM_HD void operator()(int64_t plane) const {
    float* xp = gx + plane * g.H * g.W;
    for (int64_t i = 0; i < g.H * g.W; ++i) xp[i] = 0.0f;
    const int32_t* ip = idx + plane * g.Ho * g.Wo;
    const float* gp = gy + plane * g.Ho * g.Wo;
    for (int64_t o = 0; o < g.Ho * g.Wo; ++o) xp[ip[o]] += gp[o];
  }
};

struct AvgForward {
  const float* x;
  float* y;
  Geom g;
  TRIM_HD void operator()(int64_t plane, int64_t oh, int64_t ow) const {
    const float* xp = x + plane * g.H * g.W;
    int64_t h0, h1, w0, w1;
    window(g, oh, ow, h0, h1, w0, w1);
    float s = 0.0f;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) s += xp[ih * g.W + iw];
    y[(plane * g.Ho + oh) * g.Wo + ow] = s / float(g.p.kernel_h * g.p.kernel_w);
  }
};

// Gather: input element (plane, ih, iw) sums the gradients of every window covering it.
struct AvgBackward {
  const float* gy;
  float* gx;
  Geom g;
  TRIM_HD void operator()(int64_t plane, int64_t ih, int64_t iw) const {
    int64_t h0, h1, w0, w1;
    covering(ih, g.p.kernel_h, g.p.stride_h, g.p.pad_h, g.Ho, h0, h1);
    covering(iw, g.p.kernel_w, g.p.stride_w, g.p.pad_w, g.Wo, w0, w1);
    const float* gp = gy + plane * g.Ho * g.Wo;
    float s = 0.0f;
    for (int64_t oh = h0; oh < h1; ++oh)
      for (int64_t ow = w0; ow < w1; ++ow) s += gp[oh * g.Wo + ow];
    gx[(plane * g.H + ih) * g.W + iw] = s / float(g.p.kernel_h * g.p.kernel_w);
  }
};

}  // namespace trim::pool
