// Batch norm on the CPU, one channel per loop iteration. Per-plane sums use eight float lanes
// (lanes.h) and planes are combined in double.
#include <bit>
#include <cmath>
#include <cstdint>

#include "core/cpu/lanes.h"
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

// ReLU's gradient rule (ew::ReluBackward): the gradient where the output is positive, else +0.
// As a bit mask, not a select: inside the eight-lane sums GCC turns the select into a branch, and
// on activations that branch is a coin flip (the fused backward ran 15x slower than without it).
inline float masked(float g, float y) {
  return std::bit_cast<float>(std::bit_cast<uint32_t>(g) & -uint32_t(y > 0.0f));
}

// Training forward, optionally followed by ReLU in the same output pass (kRelu): max(v, 0) as
// ew::ReluForward computes it, so the fused result equals relu(batch_norm(x)) bit for bit.
template <bool kRelu>
void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean, Tensor& running_var,
                   float momentum, float eps, Tensor& y, Tensor& save_mean, Tensor& save_invstd) {
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
      if constexpr (kRelu) {
        for (int64_t j = 0; j < l.hw; ++j) {
          float v = p[j] * a + b;
          q[j] = v > 0.0f ? v : 0.0f;
        }
      } else {
        for (int64_t j = 0; j < l.hw; ++j) q[j] = p[j] * a + b;
      }
    }
    SM[c] = mean;
    SI[c] = invstd;
    double unbiased = m > 1 ? var * m / (m - 1) : var;
    RM[c] = float((1.0 - momentum) * RM[c] + momentum * double(mean));
    RV[c] = float((1.0 - momentum) * RV[c] + momentum * unbiased);
  });
}

// Backward; with kRelu the incoming gradient is first masked by the fused forward's output y
// (gy where y > 0, else 0: ew::ReluBackward's rule), in each pass instead of a pass of its own.
template <bool kRelu>
void backward(const Tensor& x, const Tensor* y, const Tensor& gy, const Tensor& gamma, const Tensor& save_mean,
              const Tensor& save_invstd, Tensor& gx, Tensor& ggamma, Tensor& gbeta, float param_beta) {
  const float *X = x.data<float>(), *GY = gy.data<float>(), *G = gamma.data<float>();
  const float* Yr = kRelu ? y->data<float>() : nullptr;
  const float *SM = save_mean.data<float>(), *SI = save_invstd.data<float>();
  float *GX = gx.data<float>(), *GG = ggamma.data<float>(), *GB = gbeta.data<float>();
  per_channel(x, [&](int64_t c, const Layout& l) {
    double sum_gy = 0.0, sum_gy_xc = 0.0;
    float mean = SM[c], invstd = SI[c];
    for (int64_t i = 0; i < l.n; ++i) {
      const float *p = X + (i * l.c + c) * l.hw, *g = GY + (i * l.c + c) * l.hw;
      if constexpr (kRelu) {
        const float* r = Yr + (i * l.c + c) * l.hw;
        sum_gy += lanes(l.hw, [g, r](int64_t j) { return masked(g[j], r[j]); });
        sum_gy_xc += lanes(l.hw, [p, g, r, mean](int64_t j) { return masked(g[j], r[j]) * (p[j] - mean); });
      } else {
        sum_gy += lanes(l.hw, [g](int64_t j) { return g[j]; });
        sum_gy_xc += lanes(l.hw, [p, g, mean](int64_t j) { return g[j] * (p[j] - mean); });
      }
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
      if constexpr (kRelu) {
        const float* r = Yr + (i * l.c + c) * l.hw;
        for (int64_t j = 0; j < l.hw; ++j) q[j] = k * (masked(g[j], r[j]) - mg - (p[j] - mean) * mgx);
      } else {
        for (int64_t j = 0; j < l.hw; ++j) q[j] = k * (g[j] - mg - (p[j] - mean) * mgx);
      }
    }
  });
}

}  // namespace

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

void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                              Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                              Tensor& save_invstd) {
  forward_train<false>(x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
}

void batch_norm_relu_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                   Tensor& running_var, float momentum, float eps, Tensor& y, Tensor& save_mean,
                                   Tensor& save_invstd) {
  forward_train<true>(x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_invstd);
}

void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& gamma, const Tensor& save_mean,
                         const Tensor& save_invstd, float, Tensor& gx, Tensor& ggamma, Tensor& gbeta,
                         float param_beta) {
  backward<false>(x, nullptr, gy, gamma, save_mean, save_invstd, gx, ggamma, gbeta, param_beta);
}

void batch_norm_relu_backward(const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gamma,
                              const Tensor& save_mean, const Tensor& save_invstd, float, Tensor& gx, Tensor& ggamma,
                              Tensor& gbeta, float param_beta) {
  backward<true>(x, &y, gy, gamma, save_mean, save_invstd, gx, ggamma, gbeta, param_beta);
}

}  // namespace trim::cpu
