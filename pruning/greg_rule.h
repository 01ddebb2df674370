#pragma once
// The GReg rule of the SGD step (pruning/README.md#greg): the growing L2 penalty enters the gradient before
// weight decay and momentum, and the hard mask of the pruned phase is applied on top, so that one
// rule covers both phases of the method:
//   g <- (g + lambda[i / row_size] * w) * m[i]        (then weight decay, momentum: core/optim/sgd_update.h)
//   w <- w * m[i],  v <- v * m[i]                     after the update
// lambda is one value per filter (row_size = the elements of one output row of W, i.e. in*kh*kw)
// or one per element (row_size = 1, unstructured mode). A null lambda adds no penalty; a null mask
// masks nothing.
#include "core/optim/step_rule.h"
#include "pruning/mask_rule.h"

namespace trim {

// The penalty piece: g <- g + lambda[i / row_size] * w.
struct PenaltyRule : RulePiece {
  struct Params {
    const float* lambda = nullptr;  // per row (filter) or per element, on the parameter's device
    int64_t row_size = 1;           // elements per lambda entry (>= 1)
  };
  struct Scalars {};
  TRIM_HD static float grad(const Params& p, const Scalars&, int64_t i, float w, float g) {
    return p.lambda ? g + p.lambda[i / p.row_size] * w : g;
  }
};

// Params: {{lambda, row_size}, {mask}}.
using GregRule = Then<PenaltyRule, MaskRule>;

}  // namespace trim
