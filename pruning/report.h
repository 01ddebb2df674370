#pragma once
// Sparsity and PQ Index reports over the prunable set (pruning/README.md#sap "PQ Index", baselines.md
// "Counting": sparsity over P only). Reports read every tensor to the host once and compute in
// float64 there; they run once per epoch or round, not per step.
#include <cstdint>
#include <string>
#include <vector>

#include "pruning/prunable.h"

namespace trim {

struct LayerSparsity {
  std::string name;
  int64_t numel = 0;
  int64_t zeros = 0;      // entries exactly equal to 0 (±0)
  double sparsity = 0.0;  // zeros / numel (0 for an empty tensor)
};

struct SparsityReport {
  int64_t numel = 0;
  int64_t zeros = 0;
  double sparsity = 0.0;  // over the whole set
  std::vector<LayerSparsity> layers;  // in PrunableSet order
};

// Counts exact zeros of the (effective) weights, so it reports pruned weights once they are masked.
SparsityReport sparsity_report(const PrunableSet& set);

// I_{p,q}(w) = 1 − M_p/M_q with M_r = (mean_i |w_i|^r)^{1/r} (= 1 − d^{1/q−1/p}·‖w‖_p/‖w‖_q) over the
// d entries whose mask is not 0 (all n entries when mask is nullptr; unpruned exact zeros count).
// Requires 0 < p < q (finite). Computed in float64 on |w|/max|w| (the index is scale-invariant, and
// this keeps |w|^q in range). Returns 0 when d = 0 or all d entries are 0, NaN when a counted entry is
// not finite; round-off below 0 is returned as 0 (Thm. 1: I ≥ 0).
double pq_index(const float* w, const float* mask, int64_t n, double p, double q);

enum class PqiScope { global, layer, neuron };

// One unit of a PQI report.
struct PqiUnit {
  int64_t layer = -1;  // index into the set; -1 for the global unit
  int64_t row = -1;    // output row (neuron scope: row of W reshaped to [out, −1]); -1 otherwise
  int64_t d = 0;       // entries counted (unpruned)
  double value = 0.0;
};

// PQ Index per unit of `scope`: global (all tensors concatenated), layer (one per tensor), neuron
// (one per output row, tensor by tensor). `masks` is empty (all unpruned) or one per tensor (f32,
// same shapes). Throws trim::Error unless 0 < p < q.
std::vector<PqiUnit> pq_index_report(const PrunableSet& set, const std::vector<Tensor>& masks, double p, double q,
                                     PqiScope scope);

}  // namespace trim
