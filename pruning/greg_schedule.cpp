#include "pruning/greg_schedule.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace trim {

double greg_lambda(int64_t updates, double delta) { return double(updates) * delta; }

int64_t greg_updates_by(int64_t i, int64_t k_u) { return i / k_u + 1; }

bool greg_reached(double lambda, double ceiling) { return lambda >= ceiling * (1.0 - 1e-12); }

int64_t greg_updates_to_reach(double from, double delta, double ceiling) {
  int64_t n = int64_t(std::max(1.0, std::floor((ceiling - from) / delta) - 1.0));
  while (n > 1 && greg_reached(from + greg_lambda(n - 1, delta), ceiling)) --n;
  while (!greg_reached(from + greg_lambda(n, delta), ceiling)) ++n;
  return n;
}

double greg1_lambda_at(int64_t i, int64_t k_u, double delta) { return greg_lambda(greg_updates_by(i, k_u), delta); }

double greg2_lambda_at(int64_t i, int64_t k_u, double delta_pick, double ceiling_pick, double delta) {
  int64_t u = greg_updates_by(i, k_u), pick = greg_updates_to_reach(0.0, delta_pick, ceiling_pick);
  if (u <= pick) return greg_lambda(u, delta_pick);
  return greg_lambda(pick, delta_pick) + greg_lambda(u - pick, delta);
}

double greg_hist(double hist, double ratio, bool first) { return first ? ratio : 0.9 * hist + 0.1 * ratio; }

double greg_ratio(const std::vector<double>& scores, const std::vector<int64_t>& pruned) {
  double kept = 0.0, gone = 0.0;
  size_t p = 0;
  for (size_t j = 0; j < scores.size(); ++j) {
    if (p < pruned.size() && pruned[p] == int64_t(j)) {
      gone += scores[j], ++p;
    } else {
      kept += scores[j];
    }
  }
  size_t n_kept = scores.size() - pruned.size();
  if (pruned.empty() || n_kept == 0) return 0.0;
  double mk = kept / double(n_kept), mp = gone / double(pruned.size());
  return mp > 0.0 ? mk / mp : std::numeric_limits<double>::infinity();
}

std::vector<double> greg_shrink(const std::vector<double>& h, double delta) {
  std::vector<double> out;
  for (double x : h) out.push_back(1.0 / (1.0 + delta / x));
  return out;
}

}  // namespace trim
