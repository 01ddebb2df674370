#pragma once
// GReg's selection (pruning/README.md#greg "Selection"): which groups of each layer its penalty targets and
// the hard prune removes, ranked by current magnitude.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "pruning/greg_config.h"
#include "pruning/prunable.h"

namespace trim {

// Mean |W_j| of each filter (row of w as [out, -1]): the spec's score.
std::vector<double> greg_filter_scores(const Tensor& w);

struct GregSelection {
  // Per layer, [groups] f32 on the weights' device: 1 on a selected group, 0 elsewhere (groups:
  // the rows of W in filter mode, its elements in unstructured mode).
  std::vector<Tensor> selected;
  // Filter mode: per layer, the selected rows in ascending order.
  std::vector<std::vector<int64_t>> rows;
};

// Selects the k[l] smallest groups of each layer l: filters by the L1 norm of their rows, elements
// by |w| within the layer (ties toward the lower index); k[l] = 0 selects none.
GregSelection greg_select(GregMode mode, const PrunableSet& set, const std::vector<int64_t>& k);

}  // namespace trim
