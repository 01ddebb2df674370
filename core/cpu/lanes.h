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

// lanes(n, f) and lanes(n, g) in one pass over the data (each sum in exactly lanes()'s order),
// added to sf and sg.
template <class F, class G>
void lanes2(int64_t n, const F& f, const G& g, double& sf, double& sg) {
  float a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) a[k] += f(j + k), b[k] += g(j + k);
  double s = 0.0, t = 0.0;
  for (; j < n; ++j) s += f(j), t += g(j);
  for (float v : a) s += v;
  for (float v : b) t += v;
  sf += s, sg += t;
}

}  // namespace trim::cpu
