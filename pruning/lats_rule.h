#pragma once
// The LATS rule of the SGD step (pruning/README.md#lats), a soft-threshold piece. The step updates the
// latent theta (the parameter's master copy) and, in the same pass, writes the forward weight
//   w = S_d(theta) = sign(theta) * max(|theta| - d, 0)
// with d the threshold of the next forward pass (Scalars::threshold, set before each step).
// Backward is straight-through: dL/dtheta = sign(theta)^2 * dL/dw, so exact zeros get no gradient
// (nor decay: their weight-decay term is zero too) and pruned entries (|theta| <= d) can regrow.
#include <cmath>

#include "core/optim/step_rule.h"

namespace trim {

TRIM_HD float soft_threshold(float theta, float d) {
  float a = (theta < 0.0f ? -theta : theta) - d;
  if (a <= 0.0f) return 0.0f;  // NaN passes through: a diverged theta stays visible
  return theta < 0.0f ? -a : a;
}

struct LatsRule : RulePiece {
  struct Params {
    // 1: the slot is a latent theta (straight-through gradient, forward weight S_d(theta));
    // 0: a plain parameter the method does not prune (BN, biases), updated as dense SGD: its exact
    // zeros (BN's beta starts at 0) must still train.
    int32_t latent = 1;
  };
  struct Scalars {
    float threshold = 0.0f;  // d of the next forward pass
  };
  TRIM_HD static float grad(const Params& p, const Scalars&, int64_t, float theta, float g) {
    return (theta != 0.0f || !p.latent) ? g : 0.0f;
  }
  TRIM_HD static float store(const Params& p, const Scalars& k, int64_t, float theta) {
    return p.latent ? soft_threshold(theta, k.threshold) : theta;
  }
};

}  // namespace trim
