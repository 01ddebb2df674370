// Batch norm on the CPU, one channel per loop iteration. Per-plane sums use eight independent
// float lanes (the compiler vectorises them; the order is fixed, so results are reproducible) and
// planes are combined in double.
#include <cmath>

#include "core/cpu/parallel.h"
#include "core/kernels/kernels.h"

namespace trim::cpu {
namespace {

struct Layout {
  int64_t n, c, hw;
};
Layout layout(const Tensor& x) { return {x.size(0), x.size(1), x.numel() / (x.size(0) * x.size(1))}; }

template <class F>
void per_channel(const Tensor& x, const F& body) {
  Layout l = layout(x);
  parallel_for(l.c, x.numel() >= kParallelGrain, [&](int64_t c) { body(c, l); });
}

// sum_j f(j) over [0, n) in eight lanes.
template <class F>
double lanes(int64_t n, const F& f) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += f(j + k);
  double s = 0.0;
  for (; j < n; ++j) s += f(j);
  for (float a : acc) s += a;
  return s;
}

}  // namespace

void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                              Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                              Tensor& save_invstd) {
  const float *X = x.data<float>(), *G = gamma.data<float>(), *B = beta.data<float>();
  float *Y = y.data<float>(), *RM = running_mean.data<float>(), *RV = running_var.data<float>();
  float *SM = save_mean.data<float>(), *SI = save_invstd.data<float>();
  per_channel(x, [&](int64_t c, const Layout& l) {
    double m = double(l.n) * double(l.hw), s = 0.0, ss = 0.0;
    for (int64_t i = 0; i < l.n; ++i) {
      const float* p = X + (i * l.c + c) * l.hw;
      s += lanes(l.hw, [p](int64_t j) { return p[j]; });
    }
    float mean = float(s / m);
    for (int64_t i = 0; i < l.n; ++i) {
      const float* p = X + (i * l.c + c) * l.hw;
      ss += lanes(l.hw, [p, mean](int64_t j) { return (p[j] - mean) * (p[j] - mean); });
    }
    double var = ss / m;
    float invstd = float(1.0 / std::sqrt(var + eps));
    float a = G[c] * invstd, b = B[c] - mean * a;
    for (int64_t i = 0; i < l.n; ++i) {
      const float* p = X + (i * l.c + c) * l.hw;
      float* q = Y + (i * l.c + c) * l.hw;
      for (int64_t j = 0; j < l.hw; ++j) q[j] = p[j] * a + b;
    }
    SM[c] = mean;
    SI[c] = invstd;
    double unbiased = m > 1 ? var * m / (m - 1) : var;
    RM[c] = float((1.0 - momentum) * RM[c] + momentum * double(mean));
    RV[c] = float((1.0 - momentum) * RV[c] + momentum * unbiased);
  });
}

void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                             const Tensor& running_var, float eps, Tensor& y) {
  const float *X = x.data<float>(), *G = gamma.data<float>(), *B = beta.data<float>();
  const float *RM = running_mean.data<float>(), *RV = running_var.data<float>();
  float* Y = y.data<float>();
  per_channel(x, [&](int64_t c, const Layout& l) {
    float a = G[c] / std::sqrt(RV[c] + eps), b = B[c] - RM[c] * a;
    for (int64_t i = 0; i < l.n; ++i) {
      const float* p = X + (i * l.c + c) * l.hw;
      float* q = Y + (i * l.c + c) * l.hw;
      for (int64_t j = 0; j < l.hw; ++j) q[j] = p[j] * a + b;
    }
  });
}

void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& gamma, const Tensor& save_mean,
                         const Tensor& save_invstd, float, Tensor& gx, Tensor& ggamma, Tensor& gbeta,
                         float param_beta) {
  const float *X = x.data<float>(), *GY = gy.data<float>(), *G = gamma.data<float>();
  const float *SM = save_mean.data<float>(), *SI = save_invstd.data<float>();
  float *GX = gx.data<float>(), *GG = ggamma.data<float>(), *GB = gbeta.data<float>();
  per_channel(x, [&](int64_t c, const Layout& l) {
    double sum_gy = 0.0, sum_gy_xc = 0.0;
    float mean = SM[c], invstd = SI[c];
    for (int64_t i = 0; i < l.n; ++i) {
      const float *p = X + (i * l.c + c) * l.hw, *g = GY + (i * l.c + c) * l.hw;
      sum_gy += lanes(l.hw, [g](int64_t j) { return g[j]; });
      sum_gy_xc += lanes(l.hw, [p, g, mean](int64_t j) { return g[j] * (p[j] - mean); });
    }
    bool acc = param_beta != 0.0f;  // with 0 the old values are never read (they may be NaN)
    // Rounded to float before adding: exactly what adding a separately computed gradient gives.
    GB[c] = acc ? param_beta * GB[c] + float(sum_gy) : float(sum_gy);
    GG[c] = acc ? param_beta * GG[c] + float(sum_gy_xc * invstd) : float(sum_gy_xc * invstd);
    // dx = gamma * invstd * (gy - mean(gy) - xhat * mean(gy * xhat))
    double m = double(l.n) * double(l.hw);
    float k = G[c] * invstd, mg = float(sum_gy / m), mgx = float(sum_gy_xc * invstd * invstd / m);
    for (int64_t i = 0; i < l.n; ++i) {
      const float *p = X + (i * l.c + c) * l.hw, *g = GY + (i * l.c + c) * l.hw;
      float* q = GX + (i * l.c + c) * l.hw;
      for (int64_t j = 0; j < l.hw; ++j) q[j] = k * (g[j] - mg - (p[j] - mean) * mgx);
    }
  });
}

}  // namespace trim::cpu
