#pragma once
// Backend kernels of LTP's soft-mask op (pruning/README.md#ltp), declared for the CPU (ltp_kernels.cpp)
// and CUDA (ltp_kernels.cu) in trim::cpu / trim::cuda, so TRIM_DISPATCH picks one. Both call the
// per-element math of pruning/ltp_math.h. f32 tensors; τ and T are [1] tensors on the weight's
// device (read by the kernels, never copied to the host). Kernels never allocate their outputs
// (only scratch) and never record autograd: pruning/ltp_op.cpp checks shapes and records.
//
// Every per-layer sum is reduced in a fixed order that depends on the element count only (fixed
// chunks on the CPU, a fixed grid and two passes on CUDA, no atomics), so results repeat bit for
// bit, whatever the thread count.
#include "core/kernels/kernels.h"
#include "core/tensor.h"

namespace trim::ltp {

// One forward of the fused mask: v = w·m, m = σ((w² − τ)/T), and when defined l0 [] = Σ m (the
// layer's soft L0) and dl0 [1] = ∂L0/∂τ = −(1/T)·Σ m(1 − m) (saved for the penalty's backward).
struct MaskForwardArgs {
  Tensor w, tau, temp;  // inputs: w [...], tau [1], temp [1]
  Tensor v;             // output, shaped like w
  Tensor l0, dl0;       // optional outputs (both or neither)
};

// One backward: g = ∂L/∂v. When defined, gw = beta·gw + g·m (eq. 14: the mask is a constant with
// respect to w; gw may alias a parameter's gradient buffer) and gtau [1] = Σ −(1/T)·g·w·m(1 − m)
// (the exact cross-entropy part of ∂L/∂τ).
struct MaskBackwardArgs {
  Tensor w, tau, temp, g;
  Tensor gw;
  float beta = 0.0f;  // 0: gw is overwritten (its old content is never read)
  Tensor gtau;
};

// Fixed CPU chunk of the per-layer reductions (elements).
constexpr int64_t kReduceChunk = 8192;

}  // namespace trim::ltp

namespace trim::cpu {
#include "pruning/ltp_kernel_list.inc"
}  // namespace trim::cpu

namespace trim::cuda {
#include "pruning/ltp_kernel_list.inc"
}  // namespace trim::cuda
