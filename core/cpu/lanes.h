#pragma once
// Sums in eight independent float lanes: a plain `s += x[i]` loop is one dependent chain of
// additions, which the compiler may not reorder (no fast-math) and so cannot vectorise; eight
// lanes it can. The order is fixed, so results are reproducible run to run.
#include <cstdint>

namespace trim::cpu {

// sum_j f(j) over [0, n): lane k sums j = k, k + 8, ...; the tail and then the lanes are added
// in double.
template <class F>
double lanes(int64_t n, const F& f) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += f(j + k);
  double s = 0.0;
  for (; j < n; ++j) s += f(j);
  for (float a : acc) s += a;
  return s;
}

}  // namespace trim::cpu
