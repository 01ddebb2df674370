#pragma once
// The hard-mask piece of the SGD step (pruning/README.md, "Mask enforcement"): for a parameter
// with a mask m in {0, 1}, the gradient is masked before weight decay and momentum, and after the
// update both the weight and its momentum are multiplied by m. Masking the gradient alone would let
// momentum or weight decay revive pruned weights. A parameter without a mask (nullptr) is dense.
// Alone, it is the step rule of the magnitude methods; GReg chains it after its penalty.
#include "core/optim/step_rule.h"

namespace trim {

struct MaskRule : RulePiece {
  struct Params {
    const float* mask = nullptr;  // same shape as the parameter, on its device; nullptr = dense
  };
  struct Scalars {};
  TRIM_HD static float grad(const Params& p, const Scalars&, int64_t i, float, float g) {
    return p.mask ? g * p.mask[i] : g;
  }
  TRIM_HD static void epilogue(const Params& p, const Scalars&, int64_t i, float& w, float& v) {
    if (p.mask) w *= p.mask[i], v *= p.mask[i];
  }
};

}  // namespace trim
