#pragma once
// The per-element SGD update, shared by the CPU loop and the CUDA kernel, templated on a Rule
// (core/optim/step_rule.h) through which a pruning method enters the step.
//
//   g <- grad_scale * g              global gradient-norm clipping (1 when off)
//   g <- clamp(g, -clip, clip)       per-parameter clipping (when clip > 0)
//   g <- Rule::grad(w, g)            method penalty or gradient mask (GReg's lambda*w, masks)
//   g <- g + weight_decay * w        unless the parameter opts out
//   v <- momentum * v + g            (PyTorch semantics, no dampening)
//   g <- nesterov ? g + momentum * v : v
//   w <- w - lr * lr_scale * g
//   Rule::epilogue(w, v)             e.g. hard masks on weight and momentum
//   w_fwd <- Rule::store(w)          only for parameters with a master copy (w is the master):
//                                    e.g. LATS writes the forward weight S_d(theta)
//   w16 <- bf16(forward weight)      under the bf16 policy (ParamStore::enable_bf16_copies): the
//                                    bf16 copy of what the forward reads (w_fwd, else w), rounded
//                                    to nearest even, in the same pass
#include <cstdint>

#include "core/base.h"
#include "core/bf16.h"
#include "core/optim/step_rule.h"

namespace trim {

// The rule-independent per-step scalars.
struct SgdScalars {
  float lr = 0.0f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  int32_t nesterov = 0;
  float grad_scale = 1.0f;  // written on the device by gradient-norm clipping, before the update
  int32_t pad_ = 0;
  int64_t step = 0;         // the step's number, reported when a gradient is not finite
};

// Everything one step reads besides the tables: one struct, one small device buffer.
template <class Rule>
struct StepScalars {
  SgdScalars sgd;
  typename Rule::Scalars rule{};
};

// One parameter tensor in a multi-tensor step.
template <class Rule>
struct SgdSlot {
  float* w = nullptr;      // what the step updates: the master copy if any, else the parameter
  float* w_fwd = nullptr;  // the parameter when it has a master copy (written by Rule::store), else null
  bf16* w16 = nullptr;     // the parameter's bf16 forward copy (bf16 policy), else null
  const float* g = nullptr;
  float* v = nullptr;      // momentum buffer; null when momentum is 0
  int64_t n = 0;
  float decay_scale = 1.0f;  // 1: weight decay applies, 0: opted out (BN, biases: OptimParam::decay false)
  float lr_scale = 1.0f;
  float clip = 0.0f;       // > 0: clamp each gradient element to [-clip, clip]
  typename Rule::Params rule{};
};

// x - x is 0 exactly for finite x and NaN for infinities and NaN (no fast-math anywhere in trim).
TRIM_HD bool is_finite(float x) { return x - x == 0.0f; }

// Updates element i; returns false when its incoming gradient is not finite.
template <class Rule>
TRIM_HD bool sgd_update(const SgdSlot<Rule>& s, const StepScalars<Rule>& k, int64_t i) {
  const float g_in = s.g[i];
  float w = s.w[i];
  float g = g_in * k.sgd.grad_scale;
  if (s.clip > 0.0f) g = g < -s.clip ? -s.clip : (g > s.clip ? s.clip : g);
  g = Rule::grad(s.rule, k.rule, i, w, g) + k.sgd.weight_decay * s.decay_scale * w;
  float v = 0.0f;
  if (s.v) {
    v = k.sgd.momentum * s.v[i] + g;
    g = k.sgd.nesterov ? g + k.sgd.momentum * v : v;
  }
  w -= k.sgd.lr * s.lr_scale * g;
  Rule::epilogue(s.rule, k.rule, i, w, v);
  s.w[i] = w;
  if (s.v) s.v[i] = v;
  if (s.w_fwd) {
    const float f = Rule::store(s.rule, k.rule, i, w);
    s.w_fwd[i] = f;
    if (s.w16) s.w16[i] = float_to_bf16(f);
  } else if (s.w16) {
    s.w16[i] = float_to_bf16(w);
  }
  return is_finite(g_in);
}

}  // namespace trim
