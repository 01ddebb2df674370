#include "test/support/compare.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace trim::test {

std::string compare(const std::vector<float>& got, const std::vector<float>& want, Tolerance tol) {
  std::ostringstream os;
  if (got.size() != want.size()) {
    os << "size " << got.size() << ", expected " << want.size();
    return os.str();
  }
  double diff2 = 0.0, want2 = 0.0, worst = 0.0, scale = 0.0;
  size_t worst_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bool gn = std::isnan(got[i]), wn = std::isnan(want[i]);
    if (gn != wn) {
      os << "element " << i << " is " << got[i] << ", expected " << want[i];
      return os.str();
    }
    if (gn) continue;
    double d = std::fabs(double(got[i]) - double(want[i]));
    if (std::isnan(d) && got[i] != want[i]) {  // opposite infinities
      os << "element " << i << " is " << got[i] << ", expected " << want[i];
      return os.str();
    }
    if (std::isnan(d)) continue;  // the same infinity
    if (d > worst) worst = d, worst_at = i;
    diff2 += d * d;
    want2 += double(want[i]) * double(want[i]);
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  double rel = want2 > 0.0 ? std::sqrt(diff2 / want2) : std::sqrt(diff2);
  double max_rel = scale > 0.0 ? worst / scale : worst;
  if (rel <= tol.rel_l2 && max_rel <= tol.max_abs) return "";
  os << "relative L2 error " << rel << " (limit " << tol.rel_l2 << "), max abs error " << worst << " = " << max_rel
     << " of max |expected| (limit " << tol.max_abs << ") at element " << worst_at << ": " << got[worst_at]
     << " vs " << want[worst_at];
  return os.str();
}

}  // namespace trim::test
