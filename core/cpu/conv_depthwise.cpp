// Direct depthwise convolution on the CPU (groups == C == O). The GEMM path would run one
// [1 x k*k] x [k*k x Ho*Wo] product per channel and image, with an im2col copy each: all overhead.
// Here each channel plane is one task: for every filter tap, output rows accumulate a scaled,
// strided input row (a contiguous axpy at stride 1, which the compiler vectorises).
// bf16 inputs (the bf16 policy) are rounded to f32 first: products of bf16 values are exact in
// f32 and the sums are f32, so this is the policy's arithmetic.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cpu/bf16_support.h"
#include "core/cpu/conv_impl.h"
#include "core/cpu/parallel.h"

namespace trim::cpu {
namespace {

struct Plane {
  int64_t H, W, Ho, Wo, kh, kw;
  Conv2dParams p;
};

Plane plane_of(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  return {x[2], x[3], y[2], y[3], w[2], w[3], p};
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// For a tap at column offset off (input column = ow * stride + off), the output columns [lo, hi)
// that read inside the image.
void valid_cols(const Plane& g, int64_t off, int64_t& lo, int64_t& hi) {
  int64_t s = g.p.stride_w;
  lo = off >= 0 ? 0 : ceil_div(-off, s);
  hi = g.W - off > 0 ? ceil_div(g.W - off, s) : 0;
  lo = std::min(lo, g.Wo);
  hi = std::clamp(hi, lo, g.Wo);
}

// Calls f(out_row, in_row, lo, hi, off_w, tap) for every tap and output row that reads inside the
// image; tap = ki * kw + kj.
template <class F>
void for_taps(const Plane& g, const F& f) {
  for (int64_t ki = 0; ki < g.kh; ++ki)
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      int64_t off_h = ki * g.p.dil_h - g.p.pad_h, off_w = kj * g.p.dil_w - g.p.pad_w, lo, hi;
      valid_cols(g, off_w, lo, hi);
      if (lo >= hi) continue;
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        int64_t ih = oh * g.p.stride_h + off_h;
        if (ih >= 0 && ih < g.H) f(oh, ih, lo, hi, off_w, ki * g.kw + kj);
      }
    }
}

}  // namespace

bool is_depthwise(const Shape& x, const Shape& w, const Conv2dParams& p) {
  return p.groups > 1 && x[1] == p.groups && w[0] == p.groups && w[1] == 1;
}

void depthwise_conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  if (any_bf16(x, w)) return depthwise_conv2d_forward(bf16_rounded_f32(x), bf16_rounded_f32(w), y, p);
  Plane g = plane_of(x.shape(), w.shape(), y.shape(), p);
  const int64_t C = x.size(1), taps = g.kh * g.kw, s = p.stride_w;
  const float *X = x.data<float>(), *Wt = w.data<float>();
  float* Y = y.data<float>();
  parallel_for(x.size(0) * C, y.numel() >= kParallelGrain, [&](int64_t plane) {
    const float* xp = X + plane * g.H * g.W;
    const float* wp = Wt + (plane % C) * taps;
    float* yp = Y + plane * g.Ho * g.Wo;
    std::memset(yp, 0, sizeof(float) * size_t(g.Ho * g.Wo));
    for_taps(g, [&](int64_t oh, int64_t ih, int64_t lo, int64_t hi, int64_t off_w, int64_t tap) {
      const float wv = wp[tap];
      const float* src = xp + ih * g.W + off_w;
      float* dst = yp + oh * g.Wo;
      if (s == 1)
        for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += wv * src[ow];
      else
        for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += wv * src[ow * s];
    });
  });
}

void depthwise_conv2d_backward_data(const Tensor& gy, const Tensor& w, Tensor& gx, const Conv2dParams& p) {
  if (any_bf16(gy, w)) return depthwise_conv2d_backward_data(bf16_rounded_f32(gy), bf16_rounded_f32(w), gx, p);
  Plane g = plane_of(gx.shape(), w.shape(), gy.shape(), p);
  const int64_t C = gx.size(1), taps = g.kh * g.kw, s = p.stride_w;
  const float *GY = gy.data<float>(), *Wt = w.data<float>();
  float* GX = gx.data<float>();
  parallel_for(gx.size(0) * C, gx.numel() >= kParallelGrain, [&](int64_t plane) {
    const float* gp = GY + plane * g.Ho * g.Wo;
    const float* wp = Wt + (plane % C) * taps;
    float* xp = GX + plane * g.H * g.W;
    std::memset(xp, 0, sizeof(float) * size_t(g.H * g.W));
    for_taps(g, [&](int64_t oh, int64_t ih, int64_t lo, int64_t hi, int64_t off_w, int64_t tap) {
      const float wv = wp[tap];
      const float* src = gp + oh * g.Wo;
      float* dst = xp + ih * g.W + off_w;
      if (s == 1)
        for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += wv * src[ow];
      else
        for (int64_t ow = lo; ow < hi; ++ow) dst[ow * s] += wv * src[ow];
    });
  });
}

void depthwise_conv2d_backward_filter(const Tensor& x, const Tensor& gy, Tensor& gw, const Conv2dParams& p,
                                      float beta) {
  if (any_bf16(x, gy)) return depthwise_conv2d_backward_filter(bf16_rounded_f32(x), bf16_rounded_f32(gy), gw, p, beta);
  Plane g = plane_of(x.shape(), gw.shape(), gy.shape(), p);
  const int64_t N = x.size(0), C = x.size(1), taps = g.kh * g.kw, s = p.stride_w;
  const float *X = x.data<float>(), *GY = gy.data<float>();
  float* GW = gw.data<float>();
  // Per tap, products accumulate element-wise into a row of Wo partial sums (a loop the compiler
  // vectorises, unlike a float dot product), summed once at the end.
  parallel_for(C, x.numel() >= kParallelGrain, [&](int64_t c) {
    std::vector<float> rows(size_t(taps * g.Wo), 0.0f);
    for (int64_t n = 0; n < N; ++n) {
      const float* xp = X + (n * C + c) * g.H * g.W;
      const float* gp = GY + (n * C + c) * g.Ho * g.Wo;
      for_taps(g, [&](int64_t oh, int64_t ih, int64_t lo, int64_t hi, int64_t off_w, int64_t tap) {
        const float* src = xp + ih * g.W + off_w;
        const float* gr = gp + oh * g.Wo;
        float* acc = rows.data() + tap * g.Wo;
        if (s == 1)
          for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += gr[ow] * src[ow];
        else
          for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += gr[ow] * src[ow * s];
      });
    }
    float* out = GW + c * taps;
    for (int64_t t = 0; t < taps; ++t) {
      float d = 0.0f;
      for (int64_t ow = 0; ow < g.Wo; ++ow) d += rows[size_t(t * g.Wo + ow)];
      out[t] = beta != 0.0f ? beta * out[t] + d : d;
    }
  });
}

}  // namespace trim::cpu
