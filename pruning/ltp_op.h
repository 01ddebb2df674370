#pragma once
// LTP's soft-mask op (pruning/README.md#ltp), autograd-recorded, on the CPU or CUDA (pruning/ltp_kernels.h).
//   v = w ⊙ m,  m = σ((w² − τ)/T)            forward: one fused element-wise kernel
//   ∂L/∂w ≈ g ⊙ m (eq. 14),  ∂L/∂τ = −(1/T)·Σ g·w·m(1 − m)   backward: one fused kernel
// and, from the same forward pass, the layer's soft L0 = Σ m whose gradient goes to τ only
// (−(1/T)·Σ m(1 − m); the spec drops ∂L0/∂w). T is a [1] tensor that receives no gradient.
#include "core/tensor.h"

namespace trim {

// T = t0·Var_k(|w_k|) (population variance), a [1] f32 tensor on w's device, computed without
// leaving the device; never recorded.
Tensor ltp_temperature(const Tensor& w, double t0);

struct LtpMasked {
  Tensor v;   // shaped like w
  Tensor l0;  // [] Σ m, recorded with respect to τ only
};

// w: f32 (any shape, non-empty); tau, temp: [1] f32 on w's device (temp > 0).
LtpMasked ltp_mask_l0(const Tensor& w, const Tensor& tau, const Tensor& temp);
// The same without the soft L0 (one reduction less).
Tensor ltp_mask(const Tensor& w, const Tensor& tau, const Tensor& temp);

// count [n] (i32) += 1 for each element of g [n] (f32, same device) that the optimizer's clamp to
// [−clip, clip] changes; clip 0 counts nothing. On the device, without a host synchronisation:
// LTP counts the steps whose τ gradient was clamped and reads the counts once per epoch.
void ltp_count_clamped(const Tensor& g, float clip, Tensor& count);

}  // namespace trim
