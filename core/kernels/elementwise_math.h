#pragma once
// Per-element rules shared by the CPU loops and the CUDA kernels: each functor computes output
// element i. Backends run them with their own map(n, f) (core/cpu/parallel.h, core/cuda/launch.cuh).
#include <cstdint>

#include "core/base.h"
#include "core/bf16.h"
#include "core/kernels/params.h"
#include "core/random/philox.h"

namespace trim::ew {

template <class T>
struct Fill {
  T* y;
  T value;
  TRIM_HD void operator()(int64_t i) const { y[i] = value; }
};

// f32 -> bf16, rounding to nearest even, and back (exact).
struct ToBf16 {
  const float* x;
  bf16* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = float_to_bf16(x[i]); }
};

struct FromBf16 {
  const bf16* x;
  float* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = bf16_to_float(x[i]); }
};

struct Add {
  const float *a, *b;
  float* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = a[i] + b[i]; }
};

struct AddScaled {
  float* y;
  const float* x;
  float alpha;
  TRIM_HD void operator()(int64_t i) const { y[i] += alpha * x[i]; }
};

struct Mul {
  const float *a, *b;
  float* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = a[i] * b[i]; }
};

struct Scale {
  const float* x;
  float s;
  float* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = s * x[i]; }
};

struct ReluForward {
  const float* x;
  float* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = x[i] > 0.0f ? x[i] : 0.0f; }
};

struct ReluBackward {
  const float *y, *gy;
  float* gx;
  // gy is read whatever the mask: a conditional load keeps the CPU loop scalar and branchy.
  TRIM_HD void operator()(int64_t i) const {
    float g = gy[i];
    gx[i] = y[i] > 0.0f ? g : 0.0f;
  }
};

// Keeps element i when its uniform draw is >= p, scaling kept values by 1 / (1 - p). The mask is
// recomputed from the key in backward, so nothing is stored.
struct Dropout {
  const float* x;
  float* y;
  float p, inv_keep;
  RandomKey key;
  TRIM_HD void operator()(int64_t i) const {
    y[i] = philox::uniform(key.seed, key.start(), i) >= p ? x[i] * inv_keep : 0.0f;
  }
};

// Over (image, channel, position).
struct AffineU8 {
  const uint8_t* x;
  float* y;
  int64_t inner;  // elements per channel plane
  ChannelAffine a;
  TRIM_HD void operator()(int64_t n, int64_t c, int64_t j) const {
    int64_t i = (n * a.channels + c) * inner + j;
    y[i] = float(x[i]) * a.scale[c] + a.shift[c];
  }
};

struct Uniform {
  float* y;
  float lo, span;
  RandomKey key;
  TRIM_HD void operator()(int64_t i) const { y[i] = lo + span * philox::uniform(key.seed, key.start(), i); }
};

struct Normal {
  float* y;
  float mean, stddev;
  RandomKey key;
  TRIM_HD void operator()(int64_t i) const { y[i] = mean + stddev * philox::normal(key.seed, key.start(), i); }
};

struct Bernoulli {
  float* y;
  float p;
  RandomKey key;
  TRIM_HD void operator()(int64_t i) const { y[i] = philox::uniform(key.seed, key.start(), i) < p ? 1.0f : 0.0f; }
};

struct BroadcastScalar {
  const float* g;
  float s;
  float* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = s * g[0]; }
};

// Over (outer, channel, inner).
struct AddBias {
  float* y;
  const float* b;
  int64_t inner, channels;
  TRIM_HD void operator()(int64_t o, int64_t c, int64_t j) const { y[(o * channels + c) * inner + j] += b[c]; }
};

// One output per (n, c) plane, summed in index order.
struct GlobalAvgPoolForward {
  const float* x;
  float* y;
  int64_t hw;
  TRIM_HD void operator()(int64_t i) const {
    const float* p = x + i * hw;
    float s = 0.0f;
    for (int64_t j = 0; j < hw; ++j) s += p[j];
    y[i] = s / float(hw);
  }
};

// Over (plane, 0, position).
struct GlobalAvgPoolBackward {
  const float* gy;
  float* gx;
  int64_t hw;
  TRIM_HD void operator()(int64_t plane, int64_t, int64_t j) const { gx[plane * hw + j] = gy[plane] / float(hw); }
};

}  // namespace trim::ew

namespace trim::ew {

// ReLU6 (MobileNet-V2): the gradient passes where the output is strictly inside (0, 6), as
// PyTorch's hardtanh backward.
struct Relu6Forward {
  const float* x;
  float* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = x[i] > 0.0f ? (x[i] < 6.0f ? x[i] : 6.0f) : 0.0f; }
};

struct Relu6Backward {
  const float *y, *gy;
  float* gx;
  TRIM_HD void operator()(int64_t i) const {
    float g = gy[i];  // unconditional, as in ReluBackward
    gx[i] = y[i] > 0.0f && y[i] < 6.0f ? g : 0.0f;
  }
};

}  // namespace trim::ew
