#include "pruning/lats_schedule.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace trim {

double slats_f(double x) {
  x = std::clamp(x, 0.0, 1.0);
  return x + std::sin(M_PI * x) / M_PI;
}

double lats_f(int64_t e, int64_t b, int64_t B, int64_t E) {
  double sum = 0.0;
  for (int64_t j = 0; j < e; ++j) sum += 1.0 + std::cos(M_PI * double(j) / double(E));
  sum += double(b) / double(B) * (1.0 + std::cos(M_PI * double(e) / double(E)));
  return sum / double(E + 1);
}

double lats_f_closed(int64_t e, int64_t b, int64_t B, int64_t E) {
  double E_ = double(E), e_ = double(e);
  double sum = 0.5 * (1.0 + 2.0 * e_ + std::sin(M_PI * (e_ - 0.5) / E_) / std::sin(M_PI / (2.0 * E_)));
  sum += double(b) / double(B) * (1.0 + std::cos(M_PI * e_ / E_));
  return sum / (E_ + 1.0);
}

double pgh_f(double x, double beta) {
  TRIM_CHECK(beta > 0.0 && std::isfinite(beta), "pgh_f: beta must be finite and > 0");
  if (beta == 1.0) return slats_f(x);  // the 0/0 limit
  x = std::clamp(x, 0.0, 1.0);
  const double L = std::log(beta), pi2 = M_PI * M_PI, bx = std::pow(beta, x);
  double num = pi2 * (bx - 1.0) + (bx - 2.0) * L * L + bx * L * (L * std::cos(M_PI * x) + M_PI * std::sin(M_PI * x));
  return num / (pi2 * (beta - 1.0) - 2.0 * L * L);
}

double LatsSchedule::threshold(int64_t done, int64_t epochs, int64_t batches, const std::vector<double>& lr_prefix) const {
  TRIM_CHECK(batches >= 1 && start_epoch >= 0 && start_epoch < epochs,
             cat("LATS schedule: pruning from epoch ", start_epoch, " needs more epochs than ", epochs));
  if (kind == Kind::constant) return final_threshold;
  const int64_t N = (epochs - start_epoch) * batches;
  const int64_t n = std::clamp<int64_t>(done - start_epoch * batches, 0, N);
  if (n == 0) return 0.0;
  if (n == N) return final_threshold;  // exactly D at the end, whatever the rounding of f(1)
  double f = 0.0;
  switch (kind) {
    case Kind::slats: f = slats_f(double(n) / double(N)); break;
    case Kind::pgh: f = pgh_f(double(n) / double(N), beta); break;
    case Kind::lats: f = lats_f(n / batches, n % batches, batches, epochs - start_epoch); break;
    case Kind::exact:
      TRIM_CHECK(int64_t(lr_prefix.size()) == N + 1 && lr_prefix[size_t(N)] > 0.0,
                 cat("LATS exact schedule: an LR table of ", N + 1, " entries with a positive sum expected, found ",
                     lr_prefix.size()));
      f = lr_prefix[size_t(n)] / lr_prefix[size_t(N)];
      break;
    case Kind::constant: break;
  }
  return final_threshold * std::clamp(f, 0.0, 1.0);
}

bool parse_lats_kind(const std::string& name, LatsSchedule::Kind& kind) {
  for (LatsSchedule::Kind k : {LatsSchedule::Kind::slats, LatsSchedule::Kind::lats, LatsSchedule::Kind::pgh,
                               LatsSchedule::Kind::constant, LatsSchedule::Kind::exact})
    if (lats_kind_name(k) == name) {
      kind = k;
      return true;
    }
  return false;
}

std::string lats_kind_name(LatsSchedule::Kind kind) {
  switch (kind) {
    case LatsSchedule::Kind::slats: return "slats";
    case LatsSchedule::Kind::lats: return "lats";
    case LatsSchedule::Kind::pgh: return "pgh";
    case LatsSchedule::Kind::constant: return "constant";
    case LatsSchedule::Kind::exact: return "exact";
  }
  return "?";
}

std::vector<double> exact_lr_prefix(const LrSchedule& schedule, int64_t epochs, int64_t batches, int64_t start_epoch) {
  TRIM_CHECK(batches >= 1 && start_epoch >= 0 && start_epoch < epochs, "exact_lr_prefix: bad epoch range");
  std::vector<double> prefix{0.0};
  prefix.reserve(size_t((epochs - start_epoch) * batches + 1));
  for (int64_t e = start_epoch; e < epochs; ++e)
    for (int64_t b = 0; b < batches; ++b) prefix.push_back(prefix.back() + double(schedule.lr_at(e, b, batches)));
  return prefix;
}

}  // namespace trim
