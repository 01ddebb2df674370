#pragma once
// Step rules: how a pruning method enters the SGD step (core/optim/sgd_update.h). A Rule is a
// small struct of TRIM_HD functions run per element, inside the one launch of the step:
//   struct Rule {
//     struct Params  { ... };   // per parameter (device pointers to masks, per-filter lambdas...)
//     struct Scalars { ... };   // per step (thresholds, penalty strengths), in the step's device buffer
//     TRIM_HD static float grad(const Params&, const Scalars&, int64_t i, float w, float g);
//     TRIM_HD static void epilogue(const Params&, const Scalars&, int64_t i, float& w, float& v);
//     TRIM_HD static float store(const Params&, const Scalars&, int64_t i, float w);
//   };
// Params and Scalars must be trivially copyable: they reach the GPU as bytes.
//
// Rules are built from pieces, as tiny-cuda-nn's composite optimizer nests optimizers: a piece
// derives from RulePiece and writes only the functions it changes (a mask, a penalty, a soft
// threshold); Then<A, B> runs A's function, then B's, on each of the three; a method's rule is a
// chain of pieces, still one launch per step and still one per-element body for CPU and CUDA.
#include <cstdint>

#include "core/base.h"

namespace trim {

// The identity of each of the three functions, for pieces to inherit where they do nothing.
struct RulePiece {
  template <class P, class S>
  TRIM_HD static float grad(const P&, const S&, int64_t, float, float g) {
    return g;
  }
  template <class P, class S>
  TRIM_HD static void epilogue(const P&, const S&, int64_t, float&, float&) {}
  template <class P, class S>
  TRIM_HD static float store(const P&, const S&, int64_t, float w) {
    return w;
  }
};

// Plain SGD: no penalty, no epilogue; the forward copy equals the master.
struct DenseRule : RulePiece {
  struct Params {};
  struct Scalars {};
};

// A then B: g <- B.grad(A.grad(g)); A.epilogue then B.epilogue; w_fwd <- B.store(A.store(w)).
// Params and Scalars hold A's then B's ({{a...}, {b...}}). Chains nest: Then<A, Then<B, C>>.
template <class A, class B>
struct Then {
  struct Params {
    typename A::Params a{};
    typename B::Params b{};
  };
  struct Scalars {
    typename A::Scalars a{};
    typename B::Scalars b{};
  };
  TRIM_HD static float grad(const Params& p, const Scalars& k, int64_t i, float w, float g) {
    return B::grad(p.b, k.b, i, w, A::grad(p.a, k.a, i, w, g));
  }
  TRIM_HD static void epilogue(const Params& p, const Scalars& k, int64_t i, float& w, float& v) {
    A::epilogue(p.a, k.a, i, w, v);
    B::epilogue(p.b, k.b, i, w, v);
  }
  TRIM_HD static float store(const Params& p, const Scalars& k, int64_t i, float w) {
    return B::store(p.b, k.b, i, A::store(p.a, k.a, i, w));
  }
};

}  // namespace trim
