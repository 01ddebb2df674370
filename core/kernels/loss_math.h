#pragma once
// Softmax cross-entropy with label smoothing, per row, shared by the CPU and CUDA backends.
// Target distribution: q_c = (1 - eps) [c == label] + eps / C.  Row loss: sum_c q_c (lse - z_c),
// with lse = m + log sum_c exp(z_c - m) for the row's maximum m, summed as q_c (log s + (m - z_c)) over
// the classes with q_c > 0: exact without smoothing for any finite logits; with smoothing, logits more
// than the float range apart give inf (m - z_c overflows), which the divergence check stops.
#include <cmath>
#include <cstdint>

#include "core/base.h"

namespace trim::xent {

TRIM_HD float target(int64_t c, int32_t label, float eps, int64_t classes) {
  return (c == label ? 1.0f - eps : 0.0f) + eps / float(classes);
}

// One class's share of the row loss, q (lse - z) with lse = log_s + m (m the row's maximum, log_s
// the log of sum exp(z - m)), written as q (log_s + (m - z)): m - z >= 0 stays exact for logits
// near each other however large they are, where lse - z cancels to 0 once m is above about 1e7
// ln C (a head bias of 3e38 scored a loss of 0). A class with q = 0 adds nothing, even where
// m - z overflows to infinity (logits of both signs near the float range): 0 * inf would be NaN.
TRIM_HD float term(float q, float log_s, float m, float z) { return q == 0.0f ? 0.0f : q * (log_s + (m - z)); }

// Writes the row's softmax into p and returns its loss; NaN (and NaN probabilities) for a label
// outside [0, classes).
TRIM_HD float row_forward(const float* z, int64_t classes, int32_t label, float eps, float* p) {
  if (label < 0 || label >= classes) {
    for (int64_t c = 0; c < classes; ++c) p[c] = NAN;
    return NAN;
  }
  float m = z[0];
  for (int64_t c = 1; c < classes; ++c) m = z[c] > m ? z[c] : m;
  float s = 0.0f;
  for (int64_t c = 0; c < classes; ++c) {
    p[c] = expf(z[c] - m);
    s += p[c];
  }
  float inv = 1.0f / s, log_s = logf(s), loss = 0.0f;
  for (int64_t c = 0; c < classes; ++c) {
    p[c] *= inv;
    loss += term(target(c, label, eps, classes), log_s, m, z[c]);
  }
  return loss;
}

// Index of the row's first maximum.
TRIM_HD int64_t row_argmax(const float* z, int64_t classes) {
  int64_t best = 0;
  for (int64_t c = 1; c < classes; ++c)
    if (z[c] > z[best]) best = c;
  return best;
}

// glogits[n, c] = g[] / N * (p[n, c] - q[n, c]), run by map3 over (row, 1, class).
struct Backward {
  const float* p;
  const int32_t* labels;
  const float* g;
  float eps, inv_n;
  int64_t classes;
  float* gz;
  TRIM_HD void operator()(int64_t n, int64_t, int64_t c) const {
    int64_t i = n * classes + c;
    gz[i] = g[0] * inv_n * (p[i] - target(c, labels[n], eps, classes));
  }
};

}  // namespace trim::xent
