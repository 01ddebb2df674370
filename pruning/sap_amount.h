#pragma once
// SAP's pruning amount from the PQ Index (pruning/README.md#sap "Pruning amount", Thm. 2 and Alg. 1).
#include <cstdint>

namespace trim {

struct SapAmount {
  double p = 0.5, q = 1.0;  // 0 < p < q
  double eta = 0.0;         // η_r ≥ 0, slack: larger prunes more
  double gamma = 1.0;       // γ ≥ 0, aggressiveness
  double beta = 0.9;        // β in (0, 1), cap on the fraction pruned per round
};

// r = d · (1 + η)^{−q/(q−p)} · (1 − I)^{qp/(q−p)}, the retained bound for a unit of d unpruned
// weights with PQ Index I. Float64.
double sap_retained(int64_t d, double pqi, const SapAmount& a);

// c = max(0, min(⌊γ·(d − ⌈r⌉)⌋, ⌊β·d⌋)), the number of weights to prune from the unit (sap.md's
// "choice for this framework"). Throws trim::Error for parameters outside their ranges.
int64_t sap_prune_count(int64_t d, double pqi, const SapAmount& a);

}  // namespace trim
