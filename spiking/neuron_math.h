#pragma once
// Per-element math of IF / LIF / PLIF neurons (spiking/README.md#neurons and
// #backward-through-time), written once for the CPU loops and the CUDA kernels: charge, fire,
// reset, and one step of backpropagation through time.
// Layout: a multi-step tensor [T, n] (n = all neurons of the layer); element (t, i) is t * n + i.
#include <cmath>
#include <cstdint>

#include "core/base.h"
#include "spiking/surrogate.h"

namespace trim::spiking {

enum class NeuronKind : int { if_node, lif, plif };

// One neuron layer as the kernels see it (plain values, passed by value to the device).
struct NeuronParams {
  NeuronKind kind = NeuronKind::lif;
  bool decay_input = true;   // LIF / PLIF: H = V + (X - (V - V_reset)) k, else H = V - (V - V_reset) k + X
  bool soft_reset = false;   // V = H - S V_th instead of V = H (1 - S) + V_reset S
  bool detach_reset = false; // the reset path gets no gradient (the spike output keeps its surrogate)
  bool smooth = false;       // fire with g(x) instead of Theta(x): only for finite-difference checks
  float v_threshold = 1.0f;
  float v_reset = 0.0f;      // 0 under soft reset, which the charge then uses
  float k = 0.5f;            // LIF: 1/tau. PLIF reads k = sigmoid(w) from the device instead.
  surrogate::Surrogate sg;
};

TRIM_HD float logistic(float w) { return 1.0f / (1.0f + expf(-w)); }

// dk/dw for PLIF's k = sigmoid(w).
TRIM_HD float logistic_grad(float w) {
  float s = logistic(w);
  return s * (1.0f - s);
}

// The leak k = 1/tau of the layer; `w` points at PLIF's scalar parameter (unused otherwise).
TRIM_HD float leak(const NeuronParams& p, const float* w) { return p.kind == NeuronKind::plif ? logistic(w[0]) : p.k; }

// V[0]: V_reset under hard reset, 0 under soft reset.
TRIM_HD float initial_v(const NeuronParams& p) { return p.soft_reset ? 0.0f : p.v_reset; }

// H[t] from V[t-1] and X[t].
TRIM_HD float charge(const NeuronParams& p, float k, float v, float x) {
  if (p.kind == NeuronKind::if_node) return v + x;
  if (p.decay_input) return v + (x - (v - p.v_reset)) * k;
  return v - (v - p.v_reset) * k + x;
}

// S[t] = Theta(H[t] - V_th) (g(H[t] - V_th) in smooth mode).
TRIM_HD float fire(const NeuronParams& p, float h) {
  float u = h - p.v_threshold;
  return p.smooth ? p.sg.g(u) : surrogate::heaviside(u);
}

// V[t] from H[t] and S[t].
TRIM_HD float reset(const NeuronParams& p, float h, float s) {
  return p.soft_reset ? h - s * p.v_threshold : h * (1.0f - s) + p.v_reset * s;
}

// k_v = dH[t+1]/dV[t].
TRIM_HD float dh_dv(const NeuronParams& p, float k) { return p.kind == NeuronKind::if_node ? 1.0f : 1.0f - k; }

// c = dH[t]/dX[t].
TRIM_HD float dh_dx(const NeuronParams& p, float k) {
  return p.kind != NeuronKind::if_node && p.decay_input ? k : 1.0f;
}

// d = dV[t]/dH[t] through fire and reset; s is S[t] as fired, sg = g'(H[t] - V_th).
TRIM_HD float dv_dh(const NeuronParams& p, float h, float s, float sg) {
  if (p.soft_reset) return p.detach_reset ? 1.0f : 1.0f - p.v_threshold * sg;
  return p.detach_reset ? 1.0f - s : (1.0f - s) + (p.v_reset - h) * sg;
}

// dH[t]/dk for PLIF, from V[t-1] and X[t] (computed directly: no division by k).
TRIM_HD float dh_dk(const NeuronParams& p, float v_prev, float x) {
  float leak_term = -(v_prev - p.v_reset);
  return p.decay_input ? x + leak_term : leak_term;
}

// G = dL/dH[t] from dL/dV[t] (= grad_V[t] + G[t+1] k_v), d, grad_S[t] and sg.
TRIM_HD float grad_h(float dl_dv, float d, float gs, float sg) { return dl_dv * d + gs * sg; }

// Multi-step forward of neuron i: loops over T, writes S (and H, the final V when asked).
struct NeuronForwardFn {
  NeuronParams p;
  const float* x;   // [T, n]
  const float* v0;  // [n] or null (start at initial_v)
  const float* w;   // PLIF's [1] or null
  float* s;         // [T, n]
  float* h;         // [T, n] or null: saved for backward
  float* v_last;    // [n] or null
  int64_t T, n;
  TRIM_HD void operator()(int64_t i) const {
    float k = leak(p, w);
    float v = v0 ? v0[i] : initial_v(p);
    for (int64_t t = 0; t < T; ++t) {
      int64_t j = t * n + i;
      float ht = charge(p, k, v, x[j]);
      float st = fire(p, ht);
      s[j] = st;
      if (h) h[j] = ht;
      v = reset(p, ht, st);
    }
    if (v_last) v_last[i] = v;
  }
};

// Backward through time of neuron i: loops over T in reverse with dL/dH in a register. Returns
// sum_t dL/dH[t] dH[t]/dk (PLIF's per-neuron share of dL/dk; 0 unless want_gk).
struct NeuronBackwardFn {
  NeuronParams p;
  const float* h;        // [T, n] saved by the forward
  const float* x;        // [T, n]: needed only for PLIF's dL/dk with decay_input (else null)
  const float* v0;       // [n] or null
  const float* w;        // PLIF's [1] or null
  const float* gs;       // [T, n] dL/dS
  const float* gv_last;  // [n] dL/dV[T] or null
  float* gx;             // [T, n] or null
  float* gv0;            // [n] or null
  bool want_gk;
  int64_t T, n;
  TRIM_HD float operator()(int64_t i) const {
    float k = leak(p, w), kv = dh_dv(p, k), c = dh_dx(p, k);
    float G = 0.0f, gk = 0.0f;
    for (int64_t t = T - 1; t >= 0; --t) {
      int64_t j = t * n + i;
      float ht = h[j];
      float sg = p.sg.grad(ht - p.v_threshold);
      float dl_dv = (t == T - 1 && gv_last ? gv_last[i] : 0.0f) + G * kv;
      G = grad_h(dl_dv, dv_dh(p, ht, fire(p, ht), sg), gs[j], sg);
      if (gx) gx[j] = G * c;
      if (want_gk) {
        // V[t-1] is recomputed from the saved H[t-1] rather than stored.
        float vp = t > 0 ? reset(p, h[j - n], fire(p, h[j - n])) : (v0 ? v0[i] : initial_v(p));
        gk += G * dh_dk(p, vp, x ? x[j] : 0.0f);
      }
    }
    if (gv0) gv0[i] = G * kv;
    return gk;
  }
};

// Single-step fire with a surrogate gradient (a building block for hand-written dynamics).
struct FireFn {
  NeuronParams p;
  const float* h;
  float* s;
  TRIM_HD void operator()(int64_t i) const { s[i] = fire(p, h[i]); }
};

struct FireBackwardFn {
  NeuronParams p;
  const float* h;
  const float* g;
  float* gh;
  TRIM_HD void operator()(int64_t i) const { gh[i] = g[i] * p.sg.grad(h[i] - p.v_threshold); }
};

// y[i] = scale * sum_t x[t, i] (t in order).
struct TimeSumFn {
  const float* x;
  float* y;
  int64_t T, n;
  float scale;
  TRIM_HD void operator()(int64_t i) const {
    float s = 0.0f;
    for (int64_t t = 0; t < T; ++t) s += x[t * n + i];
    y[i] = s * scale;
  }
};

// y[t, i] = scale * x[i] for every t.
struct TimeRepeatFn {
  const float* x;
  float* y;
  int64_t T, n;
  float scale;
  TRIM_HD void operator()(int64_t i) const {
    float v = x[i] * scale;
    for (int64_t t = 0; t < T; ++t) y[t * n + i] = v;
  }
};

// SEW IAND: g(A, I) = I (1 - A); backward dA = -g I, dI = g (1 - A).
struct IandFn {
  const float* a;
  const float* b;
  float* y;
  TRIM_HD void operator()(int64_t i) const { y[i] = b[i] * (1.0f - a[i]); }
};

struct IandBackwardFn {
  const float* a;
  const float* b;
  const float* g;
  float* ga;  // or null
  float* gb;  // or null
  TRIM_HD void operator()(int64_t i) const {
    if (ga) ga[i] = -(g[i] * b[i]);
    if (gb) gb[i] = g[i] * (1.0f - a[i]);
  }
};

}  // namespace trim::spiking
