#pragma once
// Magnitude selection (pruning/README.md) and GReg's structured L1 filter selection (pruning/README.md#greg)
// on the CPU or on CUDA, decided by where the weights live. Both backends give the same masks.
//
// Masks: f32 tensors of 0/1 shaped like each weight, on the weights' device; an entry is unpruned
// iff its mask value is not 0. The masks one call returns are views into one buffer per call.
//
// Ranking (baselines.md, "Common definitions"): ascending |w| over the still-unpruned entries of a
// unit, ties broken toward the lower flat index (the position in the concatenation of the unit's
// tensors, in PrunableSet order). |w| compares as a float: -0 equals +0, NaN ranks above +inf.
// Already-pruned entries are never ranked, stay pruned (masks only grow) and may hold any value:
// so "prune the k smallest |w ⊙ m|" (GMP) is select(..., k = target − already pruned), and the
// LT / SAP rounds, which rank the unpruned entries only, pass their count directly.
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "pruning/prunable.h"

namespace trim {

// ⌊s·n⌋ for a target sparsity s in [0, 1], the unstructured count of baselines.md (never above the
// target). A product within 1e-12 (relative) below an integer counts as that integer, so s = 0.29
// over n = 100 gives 29, not the 28 of the binary product 28.999999999999996.
int64_t count_for_sparsity(double s, int64_t n);

// LT / OS round (baselines.md §3): k = ⌈(n − 1)·num/den⌉ in integer arithmetic, n = unpruned
// entries of the unit (num/den = 1/5 for the published 20%). Never empties a unit.
int64_t lt_prune_count(int64_t n_unpruned, int64_t num = 1, int64_t den = 5);

// GReg / structured one-shot (greg.md "Selection", baselines.md §1): n_p = min(⌈r·n⌉, n − 1) for a
// ratio r in [0, 1] over n filters (with the same 1e-12 tolerance as count_for_sparsity, so that
// 0.7·10 is 7, not 8).
int64_t filter_prune_count(double r, int64_t n);

// Number of entries of `t` (f32, CPU or CUDA) that are exactly zero (±0).
int64_t count_zeros(const Tensor& t);

// Global scope: prunes exactly k more entries, the k smallest-|w| unpruned entries over all of
// `set`. `masks` is empty (nothing pruned yet) or holds one mask per tensor. Throws trim::Error when
// k < 0 or k exceeds the unpruned entries. Returns the new masks (old mask minus the k selected).
std::vector<Tensor> select_global(const PrunableSet& set, const std::vector<Tensor>& masks, int64_t k);

// Layer scope: prunes exactly k[l] more entries of tensor l, ranked within that tensor only.
std::vector<Tensor> select_per_layer(const PrunableSet& set, const std::vector<Tensor>& masks,
                                     const std::vector<int64_t>& k);

// Structured L1 filter selection: filter j of tensor l is its row j of W reshaped to [out, −1]; its
// score is Σ|W_j| (summed in double in a fixed order; the same ranking as GReg's mean|W_j|). Prunes
// the n_prune[l] filters with the smallest scores, ties toward the lower row index; n_prune[l] must
// lie in [0, out − 1] (a layer is never emptied).
struct FilterSelection {
  std::vector<std::vector<int64_t>> pruned;  // per tensor, the pruned rows in ascending order
  std::vector<Tensor> masks;                 // per tensor, 0 on pruned rows, 1 elsewhere
};
FilterSelection select_filters(const PrunableSet& set, const std::vector<int64_t>& n_prune);

// The filter scores Σ|W_j| of one tensor (f32, ≥ 2-d, CPU or CUDA), exactly as select_filters ranks.
std::vector<double> filter_l1(const Tensor& w);

}  // namespace trim
