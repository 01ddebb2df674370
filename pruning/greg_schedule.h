#pragma once
// GReg's schedule math (pruning/README.md#greg): lambda's growth, the updates to reach a ceiling, the stop
// rules' magnitude ratio and history. Pure functions, exposed for the oracle tests.
#include <cstdint>
#include <vector>

namespace trim {

// Lambda after `updates` updates of `delta` each: updates * delta in double.
double greg_lambda(int64_t updates, double delta);
// The updates made by iteration i (counting from 0) at one update every k_u iterations, the first
// at iteration 0: floor(i / k_u) + 1.
int64_t greg_updates_by(int64_t i, int64_t k_u);
// The pruned groups' lambda in effect for the step of iteration i of an unstopped schedule:
// GReg-1 greg_lambda(greg_updates_by(i, k_u), delta); GReg-2 picks over the first U_p updates
// (U_p: the first with U_p * delta_pick reaching ceiling_pick), then continues by delta.
double greg1_lambda_at(int64_t i, int64_t k_u, double delta);
double greg2_lambda_at(int64_t i, int64_t k_u, double delta_pick, double ceiling_pick, double delta);
// Smallest n >= 1 with from + n * delta reaching `ceiling` (greg_reached).
int64_t greg_updates_to_reach(double from, double delta, double ceiling);
// Whether lambda has reached `ceiling` (within 1e-12 relative, so 10000 * 1e-4 counts as 1).
bool greg_reached(double lambda, double ceiling);
// The magnitude-ratio history: the first ratio itself, then 0.9 hist + 0.1 ratio.
double greg_hist(double hist, double ratio, bool first);
// The score ratio mean(kept) / mean(pruned) of one layer's group scores (+inf when the pruned
// groups are all zero).
double greg_ratio(const std::vector<double>& scores, const std::vector<int64_t>& pruned_sorted);
// Eq. 6: the factor 1 / (1 + delta / h_ii) by which a diagonal-curvature optimum shrinks when the
// uniform penalty rises by delta.
std::vector<double> greg_shrink(const std::vector<double>& h, double delta);

}  // namespace trim
