#include "pruning/sap_amount.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace trim {

namespace {
void check(const SapAmount& a) {
  if (!(std::isfinite(a.p) && std::isfinite(a.q) && a.p > 0.0 && a.p < a.q))
    throw Error(cat("SAP: expected 0 < p < q, found p = ", a.p, ", q = ", a.q));
  if (!(a.eta >= 0.0 && std::isfinite(a.eta))) throw Error(cat("SAP: expected eta_r >= 0, found ", a.eta));
  if (!(a.gamma >= 0.0 && std::isfinite(a.gamma))) throw Error(cat("SAP: expected gamma >= 0, found ", a.gamma));
  if (!(a.beta > 0.0 && a.beta < 1.0)) throw Error(cat("SAP: expected beta in (0, 1), found ", a.beta));
}
}  // namespace

double sap_retained(int64_t d, double pqi, const SapAmount& a) {
  check(a);
  const double span = a.q - a.p;
  return double(d) * std::pow(1.0 + a.eta, -a.q / span) * std::pow(1.0 - pqi, a.q * a.p / span);
}

int64_t sap_prune_count(int64_t d, double pqi, const SapAmount& a) {
  TRIM_CHECK(d >= 0, cat("sap_prune_count: negative unit size ", d));
  if (!(pqi >= 0.0 && pqi < 1.0)) throw Error(cat("SAP: the PQ Index must lie in [0, 1), found ", pqi));
  if (d == 0) return 0;
  const double r_up = std::ceil(sap_retained(d, pqi, a));
  const double by_bound = std::floor(a.gamma * (double(d) - r_up));
  const double cap = std::floor(a.beta * double(d));
  return int64_t(std::max(0.0, std::min(by_bound, cap)));
}

}  // namespace trim
