#pragma once
// The per-element SGD update, shared by the CPU loop and the CUDA kernel, templated on a Rule: a
// small struct of TRIM_HD functions through which a pruning method enters the step.
//
//   g <- Rule::grad(w, g)            method penalty or gradient mask (GReg's lambda*w, masks)
//   g <- g + weight_decay * w        unless the parameter opts out
//   v <- momentum * v + g            (PyTorch semantics, no dampening)
//   g <- nesterov ? g + momentum * v : v
//   w <- w - lr * g
//   Rule::epilogue(w, v)             e.g. hard masks on weight and momentum, soft thresholds
#include <cstdint>

#include "core/base.h"

namespace trim {

// Per-step scalars. They live in a small device buffer that the step reads, so the step's kernel
// arguments never change from one step to the next. `rule` holds the method's scalars.
struct SgdScalars {
  float lr = 0.0f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  int32_t nesterov = 0;
  float rule[8] = {0, 0, 0, 0, 0, 0, 0, 0};
};

// Plain SGD: no penalty, no epilogue.
struct DenseRule {
  struct Params {};
  TRIM_HD static float grad(const Params&, const SgdScalars&, int64_t, float, float g) { return g; }
  TRIM_HD static void epilogue(const Params&, const SgdScalars&, int64_t, float&, float&) {}
};

// One parameter tensor in a multi-tensor step.
template <class Rule>
struct SgdSlot {
  float* w = nullptr;
  const float* g = nullptr;
  float* v = nullptr;  // momentum buffer; null when momentum is 0
  int64_t n = 0;
  float decay = 1.0f;  // 1: weight decay applies, 0: opted out (BN, biases)
  typename Rule::Params rule{};
};

template <class Rule>
TRIM_HD void sgd_update(const SgdSlot<Rule>& s, const SgdScalars& k, int64_t i) {
  float w = s.w[i];
  float g = Rule::grad(s.rule, k, i, w, s.g[i]) + k.weight_decay * s.decay * w;
  float v = 0.0f;
  if (s.v) {
    v = k.momentum * s.v[i] + g;
    g = k.nesterov ? g + k.momentum * v : v;
  }
  w -= k.lr * g;
  Rule::epilogue(s.rule, k, i, w, v);
  s.w[i] = w;
  if (s.v) s.v[i] = v;
}

}  // namespace trim
