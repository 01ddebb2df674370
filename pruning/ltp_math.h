#pragma once
// LTP's element-wise math (pruning/README.md#ltp, Azarian et al. arXiv 2003.00075): the soft mask
// m = σ((w² − τ)/T), the masked weight v = w·m, the paper's approximate weight gradient (eq. 14)
// and the exact threshold gradient. Templated on the real type R: kernels use float (the spec asks
// for FP32 w², m and L0), tests also use double for finite differences. The per-layer reductions
// (T from Var|w|, Σ over a layer for ∂L/∂τ) are left to the caller.
#include <cmath>
#include <cstdint>

#include "core/base.h"

namespace trim::ltp {

TRIM_HD float exp_r(float x) { return expf(x); }
TRIM_HD double exp_r(double x) { return exp(x); }

// σ(z), without overflow for large |z|.
template <class R>
TRIM_HD R sigmoid(R z) {
  if (z >= R(0)) return R(1) / (R(1) + exp_r(-z));
  R e = exp_r(z);
  return e / (R(1) + e);
}

// z = (w² − τ)/T, the mask's argument; |z| < 4 is the transition band the spec asks to log.
template <class R>
TRIM_HD R mask_arg(R w, R tau, R temp) {
  return (w * w - tau) / temp;
}

template <class R>
TRIM_HD R soft_mask(R w, R tau, R temp) {
  return sigmoid(mask_arg(w, tau, temp));
}

// v = w·m, what the forward pass uses instead of w.
template <class R>
TRIM_HD R masked_weight(R w, R m) {
  return w * m;
}

// The hard rule: keep iff w² > τ (a weight exactly at w² = τ, m = 0.5, is dropped).
template <class R>
TRIM_HD bool hard_keep(R w, R tau) {
  return w * w > tau;
}

template <class R>
TRIM_HD bool in_transition_band(R z, R half_width = R(4)) {
  return z < half_width && z > -half_width;
}

// ∂L/∂w ≈ g·m (eq. 14), g = ∂L_CE/∂v: the mask is treated as a constant and ∂L0/∂w is dropped.
template <class R>
TRIM_HD R grad_w(R g, R m) {
  return g * m;
}

// The exact ∂L/∂w that eq. 14 deliberately does not use (for tests and diagnostics):
// g·(m + (2w²/T)·m') + l0_scale·(2w/T)·m', m' = m(1 − m), l0_scale = λ/Ntot.
template <class R>
TRIM_HD R grad_w_exact(R g, R w, R m, R temp, R l0_scale) {
  R dm = m * (R(1) - m);
  return g * (m + R(2) * w * w / temp * dm) + l0_scale * R(2) * w / temp * dm;
}

// Element k's share of ∂L/∂τ_l (exact; sum it over the layer):
// −(1/T)·g·w·m' − l0_scale·(1/T)·m', with l0_scale = λ/Ntot (0 for the cross-entropy part alone).
template <class R>
TRIM_HD R grad_tau_term(R g, R w, R m, R temp, R l0_scale) {
  R dm = m * (R(1) - m);
  return -(g * w * dm) / temp - l0_scale * dm / temp;
}

// T_l = T₀·Var_k(|w_k|), the population variance (divide by N), in double on the host (two passes).
inline double temperature(const float* w, int64_t n, double t0) {
  if (n <= 0) return 0.0;
  double mean = 0.0;
  for (int64_t i = 0; i < n; ++i) mean += std::fabs(double(w[i]));
  mean /= double(n);
  double var = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double d = std::fabs(double(w[i])) - mean;
    var += d * d;
  }
  return t0 * var / double(n);
}

// Whether the optimizer's per-parameter clamp of g to [−clip, clip] (core/optim/sgd_update.h)
// changes g: the τ gradient was clipped this step. Never with clip 0 (no clamp).
TRIM_HD bool clamp_binds(float g, float clip) { return clip > 0.0f && (g < -clip || g > clip); }

}  // namespace trim::ltp
